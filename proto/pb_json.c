/*
 * The proto3 JSON mapping over protobuf-c descriptors and jansson. One walker per
 * direction reads each field's type, label and offset from the descriptor, so every
 * message of vmsim.proto (and any later one) gets JSON without per-message code.
 * Mapping: https://protobuf.dev/programming-guides/proto3/#json
 */
#include "pb_json.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MEMBER(type, msg, off)  (*(type *)((char *)(msg) + (off)))
#define CMEMBER(type, msg, off) (*(const type *)((const char *)(msg) + (off)))

void pb_json_name(const char *name, char *out)
{
	int up = 0;
	for (; *name; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		*out++ = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
		up = 0;
	}
	*out = 0;
}

/* ------------------------------------------------------------------------------------ */
/* UTF-8 */

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 if s does not start one. */
static size_t utf8_seq(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n = (s[0] & 0xe0) == 0xc0   ? 2
	           : (s[0] & 0xf0) == 0xe0 ? 3
	           : (s[0] & 0xf8) == 0xf0 ? 4
	                                   : 0;
	if (!n)
		return 0;
	uint32_t cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int pb_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = utf8_seq(p);
		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

json_t *pb_json_string(const char *s)
{
	json_t *j = json_string(s);
	if (j || pb_utf8_valid(s))
		return j; /* valid (or out of memory) */
	size_t len = strlen(s);
	char *out = malloc(3 * len + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_seq(p);
		if (n) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD REPLACEMENT CHARACTER */
			o += 3;
			p++;
		}
	}
	*o = 0;
	j = json_string(out);
	free(out);
	return j;
}

/* ------------------------------------------------------------------------------------ */
/* Encoding */

static json_t *u64_json(uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static json_t *i64_json(int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static json_t *double_json(double v)
{
	if (isnan(v))
		return json_string("NaN");
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

static json_t *bytes_json(const ProtobufCBinaryData *b)
{
	size_t n = 4 * ((b->len + 2) / 3) + 1;
	char *out = malloc(n);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, b->data, (int)b->len);
	json_t *j = json_string(out);
	free(out);
	return j;
}

static json_t *enum_json(const ProtobufCEnumDescriptor *ed, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	return ev ? json_string(ev->name) : json_integer(v);
}

/* One value of a field (an element, for repeated fields) at p. */
static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p, unsigned flags)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return i64_json(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return u64_json(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return double_json(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return double_json(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return enum_json(f->descriptor, *(const int *)p);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return pb_json_string(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_json(p);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		return sub ? pb_json_encode(sub, flags) : json_null();
	}
	}
	return json_null();
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* Whether a singular (non-oneof) field holds its proto3 default and may be left out. */
static int is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return !s || !*s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p == NULL;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p == 0;
	default: {
		static const unsigned char zero[8];
		return memcmp(p, zero, elem_size(f)) == 0;
	}
	}
}

json_t *pb_json_encode(const ProtobufCMessage *msg, unsigned flags)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = (const char *)msg + f->offset;
		json_t *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = CMEMBER(size_t, msg, f->quantifier_offset);
			if (n == 0 && !(flags & PB_JSON_EMIT_DEFAULTS))
				continue;
			const char *arr = *(char *const *)p;
			v = json_array();
			for (size_t k = 0; v && k < n; k++)
				json_array_append_new(v,
				                      value_json(f, arr + k * elem_size(f), flags));
		} else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (CMEMBER(uint32_t, msg, f->quantifier_offset) != f->id)
				continue;
			v = value_json(f, p, flags);
		} else {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_default(f, p))
				continue;
			if (!(flags & PB_JSON_EMIT_DEFAULTS) && is_default(f, p))
				continue;
			v = value_json(f, p, flags);
		}
		char name[128];
		if (strlen(f->name) >= sizeof(name)) {
			json_decref(v);
			continue;
		}
		pb_json_name(f->name, name);
		if (!v || json_object_set_new(obj, name, v)) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

char *pb_json_dumps(const ProtobufCMessage *msg, unsigned flags, size_t *len)
{
	json_t *j = pb_json_encode(msg, flags);
	if (!j)
		return NULL;
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s && len)
		*len = strlen(s);
	return s;
}

/* ------------------------------------------------------------------------------------ */
/* Checking a decoded request */

/* Appends ".name" or ".name[k]" to the path of length plen; returns the new length. */
static size_t path_push(char *path, size_t cap, size_t plen, const ProtobufCFieldDescriptor *f,
                        size_t k)
{
	char name[128] = "?"; /* field names are short; a longer one is shown as "?" */
	if (strlen(f->name) < sizeof(name))
		pb_json_name(f->name, name);
	const char *dot = plen ? "." : "";
	int w = f->label == PROTOBUF_C_LABEL_REPEATED
	            ? snprintf(path + plen, cap - plen, "%s%s[%zu]", dot, name, k)
	            : snprintf(path + plen, cap - plen, "%s%s", dot, name);
	size_t nlen = plen + (w > 0 ? (size_t)w : 0);
	return nlen < cap ? nlen : cap - 1;
}

struct chk {
	char path[256];
	char *why;
	size_t whylen;
};

static int check_msg(struct chk *ck, const ProtobufCMessage *msg, size_t plen)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE &&
		    f->type != PROTOBUF_C_TYPE_ENUM)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    CMEMBER(uint32_t, msg, f->quantifier_offset) != f->id)
			continue;
		size_t n = 1, es = elem_size(f);
		const char *arr = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = CMEMBER(size_t, msg, f->quantifier_offset);
			arr = CMEMBER(char *, msg, f->offset);
		}
		for (size_t k = 0; k < n; k++) {
			const void *p = arr + k * es;
			if (f->type == PROTOBUF_C_TYPE_ENUM) {
				int v = *(const int *)p;
				if (protobuf_c_enum_descriptor_get_value(f->descriptor, v))
					continue;
				path_push(ck->path, sizeof(ck->path), plen, f, k);
				snprintf(ck->why, ck->whylen, "field %s: %d is not a value of %s",
				         ck->path, v,
				         ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
				return -1;
			}
			const void *v = *(const void *const *)p;
			if (!v)
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				if (pb_utf8_valid(v))
					continue;
				path_push(ck->path, sizeof(ck->path), plen, f, k);
				snprintf(ck->why, ck->whylen,
				         "field %s: not valid UTF-8 (proto3 strings must be)",
				         ck->path);
				return -1;
			}
			if (check_msg(ck, v, path_push(ck->path, sizeof(ck->path), plen, f, k)))
				return -1;
			ck->path[plen] = 0;
		}
	}
	return 0;
}

int pb_check_values(const ProtobufCMessage *msg, char *why, size_t whylen)
{
	struct chk ck = {.why = why, .whylen = whylen};
	return check_msg(&ck, msg, 0);
}

/* ------------------------------------------------------------------------------------ */
/* Decoding */

struct dec {
	char *err;
	size_t errlen;
	char path[256]; /* field path for messages, e.g. "ops[3].allocPages.order" */
};

static int fail(struct dec *dc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct dec *dc, const char *fmt, ...)
{
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (dc->path[0])
		snprintf(dc->err, dc->errlen, "field %s: %s", dc->path, what);
	else
		snprintf(dc->err, dc->errlen, "%s", what);
	return -1;
}

/*
 * A bare integer past INT64_MAX, which jansson cannot hold as an integer, arrives as the
 * string "\0<digits>" (see quote_big_integers): a NUL no string of a request can hold. Its
 * digits, or NULL if j is anything else.
 */
static const char *big_integer(const json_t *j)
{
	if (!json_is_string(j) || json_string_length(j) < 2)
		return NULL;
	const char *s = json_string_value(j);
	return s[0] ? NULL : s + 1;
}

/* Whether s is a proto3 JSON quoted integer: an optional '-', then 0 or digits without a
 * leading 0; no sign '+', no spaces, no exponent (as the conformance suite requires). */
static int strict_integer(const char *s, int is_signed)
{
	if (*s == '-' && is_signed)
		s++;
	if (*s < '0' || *s > '9' || (*s == '0' && s[1]))
		return 0;
	while (*s >= '0' && *s <= '9')
		s++;
	return *s == 0;
}

/* Reads a JSON number or a decimal string as a signed or unsigned 64-bit integer. */
static int json_int(struct dec *dc, const json_t *j, int is_signed, int64_t *sv, uint64_t *uv)
{
	const char *big = big_integer(j);
	if (big) {
		errno = 0;
		*uv = strtoull(big, NULL, 10);
		*sv = (int64_t)*uv;
		if (is_signed || errno)
			return fail(dc, "%s is out of range for %s", big,
			            is_signed ? "int64" : "uint64");
		return 0;
	}
	if (json_is_integer(j)) {
		json_int_t x = json_integer_value(j);
		if (!is_signed && x < 0)
			return fail(dc, "must not be negative");
		*sv = x;
		*uv = (uint64_t)x;
		return 0;
	}
	if (json_is_real(j)) {
		double x = json_real_value(j);
		if (x != floor(x) || fabs(x) > 9007199254740992.0)
			return fail(dc, "must be an integer");
		if (!is_signed && x < 0)
			return fail(dc, "must not be negative");
		*sv = (int64_t)x;
		*uv = (uint64_t)x;
		return 0;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end;
		errno = 0;
		if (!strict_integer(s, is_signed))
			return fail(dc, "\"%s\" is not a valid %s integer", s,
			            is_signed ? "signed" : "unsigned");
		if (is_signed)
			*sv = strtoll(s, &end, 10), *uv = (uint64_t)*sv;
		else
			*uv = strtoull(s, &end, 10), *sv = (int64_t)*uv;
		if (*end || errno)
			return fail(dc, "\"%s\" is not a valid integer", s);
		return 0;
	}
	return fail(dc, "expected a number");
}

static int json_float(struct dec *dc, const json_t *j, double *out)
{
	const char *big = big_integer(j);
	if (big) {
		*out = strtod(big, NULL);
		return 0;
	}
	if (json_is_number(j)) {
		*out = json_number_value(j);
		return 0;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		if (!strcmp(s, "NaN"))
			*out = NAN;
		else if (!strcmp(s, "Infinity"))
			*out = INFINITY;
		else if (!strcmp(s, "-Infinity"))
			*out = -INFINITY;
		else {
			char *end;
			*out = strtod(s, &end);
			if (!*s || *end)
				return fail(dc, "\"%s\" is not a number", s);
		}
		return 0;
	}
	return fail(dc, "expected a number");
}

/*
 * Enum by its full name ("ARCH_I386"), by that name without the prefix shared with the
 * enum's first value, any case ("i386"), or by number. proto3 enums are open: a number the
 * enum does not name is kept (as protobuf decoding keeps it, and as the encoder prints it),
 * and parsers must accept it; what it means is for the receiver to judge.
 */
static int json_enum(struct dec *dc, const ProtobufCEnumDescriptor *ed, const json_t *j, int *out)
{
	if (json_is_integer(j)) {
		json_int_t x = json_integer_value(j);
		if (x < INT32_MIN || x > INT32_MAX)
			return fail(dc, "%lld is out of range for enum %s", (long long)x, ed->name);
		*out = (int)x;
		return 0;
	}
	if (!json_is_string(j) || big_integer(j))
		return fail(dc, "expected an enum name of %s", ed->name);
	const char *s = json_string_value(j);
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
	if (ev) {
		*out = ev->value;
		return 0;
	}
	for (unsigned i = 0; i < ed->n_values; i++) {
		const char *name = ed->values[i].name;
		const char *us = strchr(name, '_');
		if (us && !strcasecmp(us + 1, s)) {
			*out = ed->values[i].value;
			return 0;
		}
	}
	char names[160] = "";
	for (unsigned i = 0; i < ed->n_values && strlen(names) < 120; i++) {
		strcat(names, i ? ", " : "");
		strncat(names, ed->values[i].name, 60);
	}
	return fail(dc, "\"%s\" is not one of %s", s, names);
}

static int json_bytes(struct dec *dc, const json_t *j, ProtobufCBinaryData *out)
{
	if (!json_is_string(j) || big_integer(j))
		return fail(dc, "expected a base64 string");
	size_t n = json_string_length(j);
	const char *s = json_string_value(j);
	/* Accept the URL-safe alphabet and missing padding: normalise, then decode. */
	char *norm = malloc(n + 4);
	unsigned char *buf = malloc(n / 4 * 3 + 6);
	if (!norm || !buf) {
		free(norm);
		free(buf);
		return fail(dc, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		norm[k++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	if (k % 4 == 1) { /* one leftover character never encodes a byte */
		free(norm);
		free(buf);
		return fail(dc, "invalid base64");
	}
	while (k % 4)
		norm[k++] = '=';
	size_t pad = 0;
	while (pad < k && pad < 2 && norm[k - 1 - pad] == '=')
		pad++;
	int got = k ? EVP_DecodeBlock(buf, (unsigned char *)norm, (int)k) : 0;
	free(norm);
	if (got < 0) {
		free(buf);
		return fail(dc, "invalid base64");
	}
	out->len = (size_t)got - pad;
	out->data = buf;
	return 0;
}

static ProtobufCMessage *decode_msg(struct dec *dc, const ProtobufCMessageDescriptor *d,
                                    const json_t *obj);

/* Decodes one value into p (an element of the field's type). */
static int value_decode(struct dec *dc, const ProtobufCFieldDescriptor *f, const json_t *j, void *p)
{
	int64_t sv;
	uint64_t uv;
	double dv;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (json_int(dc, j, 1, &sv, &uv))
			return -1;
		if (sv < INT32_MIN || sv > INT32_MAX)
			return fail(dc, "%lld is out of range for int32", (long long)sv);
		*(int32_t *)p = (int32_t)sv;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (json_int(dc, j, 0, &sv, &uv))
			return -1;
		if (uv > UINT32_MAX)
			return fail(dc, "%llu is out of range for uint32", (unsigned long long)uv);
		*(uint32_t *)p = (uint32_t)uv;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (json_int(dc, j, 1, &sv, &uv))
			return -1;
		*(int64_t *)p = sv;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (json_int(dc, j, 0, &sv, &uv))
			return -1;
		*(uint64_t *)p = uv;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		if (json_float(dc, j, &dv))
			return -1;
		*(float *)p = (float)dv;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (json_float(dc, j, &dv))
			return -1;
		*(double *)p = dv;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return fail(dc, "expected true or false");
		*(protobuf_c_boolean *)p = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return json_enum(dc, f->descriptor, j, (int *)p);
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(j) || big_integer(j))
			return fail(dc, "expected a string");
		char *s = strdup(json_string_value(j));
		if (!s)
			return fail(dc, "out of memory");
		*(char **)p = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return json_bytes(dc, j, p);
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sub = decode_msg(dc, f->descriptor, j);
		if (!sub)
			return -1;
		*(ProtobufCMessage **)p = sub;
		return 0;
	}
	}
	return fail(dc, "unsupported field type");
}

/* Whether key is the lowerCamelCase spelling of name, compared without building it. */
static int camel_eq(const char *name, const char *key)
{
	int up = 0;
	for (; *name; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		char c = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
		if (*key++ != c)
			return 0;
		up = 0;
	}
	return *key == 0;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
	if (f)
		return f;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (camel_eq(d->fields[i].name, key))
			return &d->fields[i];
	return NULL;
}

static int repeated_decode(struct dec *dc, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                           const json_t *j)
{
	if (!json_is_array(j))
		return fail(dc, "expected an array");
	size_t n = json_array_size(j), es = elem_size(f);
	if (n == 0)
		return 0;
	char *arr = calloc(n, es);
	if (!arr)
		return fail(dc, "out of memory");
	/* Publish the array first so a failure half way is freed with the message. */
	MEMBER(void *, msg, f->offset) = arr;
	size_t plen = strlen(dc->path);
	for (size_t k = 0; k < n; k++) {
		snprintf(dc->path + plen, sizeof(dc->path) - plen, "[%zu]", k);
		if (value_decode(dc, f, json_array_get(j, k), arr + k * es))
			return -1;
		MEMBER(size_t, msg, f->quantifier_offset) = k + 1;
	}
	dc->path[plen] = 0;
	return 0;
}

/* Whether a field owning memory was already filled (a key given both as name and jsonName). */
static int field_is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const void *p = (const char *)msg + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(void *const *)p != NULL;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return s && s != f->default_value;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->data != NULL;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p != NULL;
	default:
		return 0;
	}
}

static int field_decode(struct dec *dc, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                        const json_t *j)
{
	if (json_is_null(j))
		return 0; /* null means "default" in proto3 JSON */
	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && field_is_set(msg, f))
		return fail(dc, "given twice (as %s and in lowerCamelCase?)", f->name);
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return repeated_decode(dc, msg, f, j);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *cs = &MEMBER(uint32_t, msg, f->quantifier_offset);
		if (*cs)
			return fail(dc, "only one field of the oneof may be set");
		if (value_decode(dc, f, j, (char *)msg + f->offset))
			return -1;
		*cs = f->id;
		return 0;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
		MEMBER(protobuf_c_boolean, msg, f->quantifier_offset) = 1;
	return value_decode(dc, f, j, (char *)msg + f->offset);
}

static ProtobufCMessage *decode_msg(struct dec *dc, const ProtobufCMessageDescriptor *d,
                                    const json_t *obj)
{
	if (!json_is_object(obj)) {
		fail(dc, "expected a JSON object for %s", d->name);
		return NULL;
	}
	ProtobufCMessage *msg = malloc(d->sizeof_message);
	if (!msg) {
		fail(dc, "out of memory");
		return NULL;
	}
	d->message_init(msg);
	const char *key;
	json_t *val;
	size_t plen = strlen(dc->path);
	json_object_foreach((json_t *)obj, key, val)
	{
		snprintf(dc->path + plen, sizeof(dc->path) - plen, "%s%s", plen ? "." : "", key);
		const ProtobufCFieldDescriptor *f = find_field(d, key);
		if (!f) {
			dc->path[plen] = 0;
			fail(dc, "unknown field \"%s\" in %s", key, d->name);
			protobuf_c_message_free_unpacked(msg, NULL);
			return NULL;
		}
		if (field_decode(dc, msg, f, val)) {
			protobuf_c_message_free_unpacked(msg, NULL);
			return NULL;
		}
	}
	dc->path[plen] = 0;
	return msg;
}

ProtobufCMessage *pb_json_decode(const ProtobufCMessageDescriptor *d, const json_t *obj, char *err,
                                 size_t errlen)
{
	struct dec dc = {.err = err, .errlen = errlen};
	return decode_msg(&dc, d, obj);
}

/* Whether a number token of len bytes at p is an integer past INT64_MAX (no sign, no
 * fraction, no exponent, no leading zero: a valid JSON integer jansson overflows on). */
static int past_int64(const char *p, size_t len)
{
	if (len < 19 || p[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return len > 19 || memcmp(p, "9223372036854775807", 19) > 0;
}

/*
 * uint64 fields take the whole range as bare JSON numbers too, but jansson's integers are
 * signed 64-bit and it refuses the text. Rewrites each such integer outside strings into the
 * string "\u0000<digits>" (read back by big_integer). NULL when there is none, or when the
 * text holds a \u0000 of its own (refused as the first parse refuses it).
 */
static char *quote_big_integers(const char *text, size_t len, size_t *out_len)
{
	char *out = malloc(len * 2 + 16), *o = out;
	int found = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		char c = text[i];
		if (c == '"') { /* a string: copied, escapes and all */
			size_t j = i + 1;
			while (j < len && text[j] != '"') {
				if (text[j] == '\\' && j + 5 < len &&
				    !memcmp(text + j + 1, "u0000", 5)) {
					free(out);
					return NULL;
				}
				j += text[j] == '\\' ? 2 : 1;
			}
			j = j < len ? j + 1 : len;
			memcpy(o, text + i, j - i);
			o += j - i;
			i = j;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t j = i;
			while (j < len && strchr("0123456789+-.eE", text[j]))
				j++;
			if (past_int64(text + i, j - i)) {
				memcpy(o, "\"\\u0000", 7);
				o += 7;
				found = 1;
			}
			memcpy(o, text + i, j - i);
			o += j - i;
			if (past_int64(text + i, j - i))
				*o++ = '"';
			i = j;
		} else {
			*o++ = c;
			i++;
		}
	}
	if (!found) {
		free(out);
		return NULL;
	}
	*out_len = (size_t)(o - out);
	return out;
}

ProtobufCMessage *pb_json_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                                char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j && json_error_code(&je) == json_error_numeric_overflow) {
		size_t qlen;
		char *quoted = quote_big_integers(text, len, &qlen);
		if (quoted)
			j = json_loadb(quoted, qlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
		free(quoted);
	}
	if (!j) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
		         je.text);
		return NULL;
	}
	ProtobufCMessage *msg = pb_json_decode(d, j, err, errlen);
	json_decref(j);
	return msg;
}
