/*
 * Red-black tree rebalancing after insert and erase (lib/rbtree.c, CLRS chapter 13).
 * Used by mmap.c to find a VMA in O(log n) while the sorted list serves full walks.
 */
#include "rbtree.h"

static void rb_set_child(struct rb_root *root, struct rb_node *parent, struct rb_node *old,
                         struct rb_node *new)
{
	if (!parent)
		root->node = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/* Rotates x down to the left: its right child y takes its place. */
static void rb_rotate_left(struct rb_root *root, struct rb_node *x)
{
	struct rb_node *y = x->right;
	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->parent = x->parent;
	rb_set_child(root, x->parent, x, y);
	y->left = x;
	x->parent = y;
}

static void rb_rotate_right(struct rb_root *root, struct rb_node *x)
{
	struct rb_node *y = x->left;
	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->parent = x->parent;
	rb_set_child(root, x->parent, x, y);
	y->right = x;
	x->parent = y;
}

static int is_red(const struct rb_node *n)
{
	return n && n->red;
}

void rb_insert_color(struct rb_node *z, struct rb_root *root)
{
	while (is_red(z->parent)) {
		struct rb_node *p = z->parent, *g = p->parent;
		int left = (p == g->left);
		struct rb_node *uncle = left ? g->right : g->left;
		if (is_red(uncle)) { /* case 1: recolour and move up */
			p->red = uncle->red = 0;
			g->red = 1;
			z = g;
			continue;
		}
		if (z == (left ? p->right : p->left)) { /* case 2: bend into a line */
			z = p;
			left ? rb_rotate_left(root, z) : rb_rotate_right(root, z);
			p = z->parent;
		}
		p->red = 0; /* case 3: rotate the grandparent */
		g->red = 1;
		left ? rb_rotate_right(root, g) : rb_rotate_left(root, g);
	}
	root->node->red = 0;
}

static void rb_transplant(struct rb_root *root, struct rb_node *u, struct rb_node *v)
{
	rb_set_child(root, u->parent, u, v);
	if (v)
		v->parent = u->parent;
}

/* Restores the black height after a black node left from below parent (x may be NULL). */
static void rb_erase_fixup(struct rb_root *root, struct rb_node *x, struct rb_node *parent)
{
	while (x != root->node && !is_red(x)) {
		int left = (x == parent->left);
		struct rb_node *w = left ? parent->right : parent->left;
		if (is_red(w)) {
			w->red = 0;
			parent->red = 1;
			left ? rb_rotate_left(root, parent) : rb_rotate_right(root, parent);
			w = left ? parent->right : parent->left;
		}
		if (!is_red(w->left) && !is_red(w->right)) {
			w->red = 1;
			x = parent;
			parent = x->parent;
			continue;
		}
		if (left && !is_red(w->right)) {
			w->left->red = 0;
			w->red = 1;
			rb_rotate_right(root, w);
			w = parent->right;
		} else if (!left && !is_red(w->left)) {
			w->right->red = 0;
			w->red = 1;
			rb_rotate_left(root, w);
			w = parent->left;
		}
		w->red = parent->red;
		parent->red = 0;
		if (left) {
			w->right->red = 0;
			rb_rotate_left(root, parent);
		} else {
			w->left->red = 0;
			rb_rotate_right(root, parent);
		}
		x = root->node;
		parent = NULL;
	}
	if (x)
		x->red = 0;
}

void rb_erase(struct rb_node *z, struct rb_root *root)
{
	struct rb_node *x, *parent;
	int removed_red = z->red;
	if (!z->left) {
		x = z->right;
		parent = z->parent;
		rb_transplant(root, z, x);
	} else if (!z->right) {
		x = z->left;
		parent = z->parent;
		rb_transplant(root, z, x);
	} else {
		struct rb_node *y = z->right;
		while (y->left)
			y = y->left;
		removed_red = y->red;
		x = y->right;
		if (y->parent == z) {
			parent = y;
		} else {
			parent = y->parent;
			rb_transplant(root, y, x);
			y->right = z->right;
			y->right->parent = y;
		}
		rb_transplant(root, z, y);
		y->left = z->left;
		y->left->parent = y;
		y->red = z->red;
	}
	if (!removed_red)
		rb_erase_fixup(root, x, parent);
}

struct rb_node *rb_first(const struct rb_root *root)
{
	struct rb_node *n = root->node;
	while (n && n->left)
		n = n->left;
	return n;
}

struct rb_node *rb_next(const struct rb_node *node)
{
	if (node->right) {
		node = node->right;
		while (node->left)
			node = node->left;
		return (struct rb_node *)node;
	}
	while (node->parent && node == node->parent->right)
		node = node->parent;
	return node->parent;
}

static int rb_check_node(const struct rb_node *n)
{
	if (!n)
		return 1;
	if (n->red && (is_red(n->left) || is_red(n->right)))
		return -1;
	if ((n->left && n->left->parent != n) || (n->right && n->right->parent != n))
		return -1;
	int l = rb_check_node(n->left), r = rb_check_node(n->right);
	if (l < 0 || r < 0 || l != r)
		return -1;
	return l + !n->red;
}

int rb_check(const struct rb_root *root)
{
	if (root->node && (root->node->red || root->node->parent))
		return -1;
	return rb_check_node(root->node);
}
