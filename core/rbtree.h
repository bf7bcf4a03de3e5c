/*
 * An intrusive red-black tree (lib/rbtree.c): the node lives inside the object it orders
 * (vm_area_struct.vm_rb), the caller walks down to the insertion point and then asks the
 * tree to rebalance, exactly as the kernel's rb_link_node() + rb_insert_color() do.
 */
#ifndef VMSIM_RBTREE_H
#define VMSIM_RBTREE_H

#include <stddef.h>

struct rb_node {
	struct rb_node *parent, *left, *right;
	int red;
};

struct rb_root {
	struct rb_node *node;
};

#define rb_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void rb_link_node(struct rb_node *node, struct rb_node *parent, struct rb_node **link)
{
	node->parent = parent;
	node->left = node->right = NULL;
	node->red = 1;
	*link = node;
}

void rb_insert_color(struct rb_node *node, struct rb_root *root);
void rb_erase(struct rb_node *node, struct rb_root *root);
struct rb_node *rb_first(const struct rb_root *root);
struct rb_node *rb_next(const struct rb_node *node);
/* Black height of the tree, or -1 if a red-black rule is broken (for machine_check). */
int rb_check(const struct rb_root *root);

#endif
