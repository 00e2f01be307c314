/* sql.c — a small SQL lexer (quotes, comments, dollar quotes) used to split
 * statement lists and to render {{placeholder}} templates safely. */
#include <secretsd/sdk.h>

#include <stdlib.h>
#include <string.h>

enum { S_CODE, S_SQ, S_DQ, S_BT, S_LINE, S_BLOCK, S_DOLLAR };

struct lexer {
	const char *s;
	int dialect;
	int st;          /* state of the character at the current position */
	int depth;       /* block comment nesting */
	int in;          /* inside a dollar body: the state of the SQL in it */
	int in_depth;
	const char *tag; /* dollar tag, "$...$", when st == S_DOLLAR */
	size_t taglen;
};

static int
is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of a dollar-quote tag starting at s[i] ("$$", "$fn$"), or 0. */
static size_t
dollar_tag(const char *s, size_t i)
{
	size_t j = i + 1;

	if (i > 0 && (is_ident((unsigned char)s[i - 1]) || s[i - 1] == '$'))
		return 0; /* part of an identifier like a$b */
	if (s[j] == '$')
		return 2;
	if (!(is_ident((unsigned char)s[j]) && !(s[j] >= '0' && s[j] <= '9')))
		return 0;
	while (is_ident((unsigned char)s[j]) || (s[j] >= '0' && s[j] <= '9'))
		j++;
	return s[j] == '$' ? j - i + 1 : 0;
}

/* One step of the plain (non-dollar) state machine for state *st at s[i].
 * Returns the bytes consumed (>= 1); *st is the state after them. When
 * dollar is non-zero a dollar quote may start (returns its tag length and
 * sets *st = S_DOLLAR; the caller records the tag). */
static size_t
step(const char *s, size_t i, int dialect, int *st, int *depth, int dollar)
{
	char c = s[i], n = s[i + 1];
	int my = dialect == SDK_SQL_MYSQL;
	size_t t;

	switch (*st) {
	case S_CODE:
		if (c == '\'') {
			*st = S_SQ;
		} else if (c == '"') {
			*st = S_DQ;
		} else if (c == '`' && my) {
			*st = S_BT;
		} else if (c == '-' && n == '-' &&
			   (!my || s[i + 2] == '\0' || is_space(s[i + 2]))) {
			*st = S_LINE;
			return 2;
		} else if (c == '#' && my) {
			*st = S_LINE;
		} else if (c == '/' && n == '*') {
			*st = S_BLOCK;
			*depth = 1;
			return 2;
		} else if (c == '$' && dollar && !my && (t = dollar_tag(s, i)) > 0) {
			*st = S_DOLLAR;
			return t;
		}
		return 1;
	case S_SQ:
	case S_DQ:
	case S_BT: {
		char q = *st == S_SQ ? '\'' : *st == S_DQ ? '"' : '`';
		if (my && c == '\\' && *st != S_BT && n != '\0')
			return 2;
		if (c == q && n == q)
			return 2;
		if (c == q)
			*st = S_CODE;
		return 1;
	}
	case S_LINE:
		if (c == '\n')
			*st = S_CODE;
		return 1;
	case S_BLOCK:
		if (c == '*' && n == '/') {
			if (--*depth == 0)
				*st = S_CODE;
			return 2;
		}
		if (c == '/' && n == '*' && !my) {
			++*depth;
			return 2;
		}
		return 1;
	default:
		return 1;
	}
}

/* Advance the lexer over the unit at s[i]; returns the bytes consumed. */
static size_t
lex_advance(struct lexer *lx, size_t i)
{
	size_t n;

	if (lx->st == S_DOLLAR) {
		if (strncmp(lx->s + i, lx->tag, lx->taglen) == 0) {
			lx->st = S_CODE;
			return lx->taglen;
		}
		return step(lx->s, i, SDK_SQL_POSTGRES, &lx->in, &lx->in_depth, 0);
	}
	n = step(lx->s, i, lx->dialect, &lx->st, &lx->depth, 1);
	if (lx->st == S_DOLLAR) {
		lx->tag = lx->s + i;
		lx->taglen = n;
		lx->in = S_CODE;
		lx->in_depth = 0;
	}
	return n;
}

/* --- splitting ---------------------------------------------------------------- */

void
sdk_statements_free(char **s, size_t n)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < n; i++)
		sdk_str_free(s[i]);
	free(s);
}

static int
push_stmt(const char *s, size_t a, size_t b, char ***out, size_t *n, size_t *cap)
{
	char *d;

	while (a < b && is_space(s[a]))
		a++;
	while (b > a && is_space(s[b - 1]))
		b--;
	if (*n >= SDK_STATEMENTS_MAX)
		return -1;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		char **p = realloc(*out, nc * sizeof(*p));
		if (p == NULL)
			return -1;
		*out = p;
		*cap = nc;
	}
	if ((d = malloc(b - a + 1)) == NULL)
		return -1;
	memcpy(d, s + a, b - a);
	d[b - a] = '\0';
	(*out)[(*n)++] = d;
	return 0;
}

int
sdk_split_statements_ex(const char *sql, int dialect, char ***out, size_t *n)
{
	struct lexer lx = {.s = sql, .dialect = dialect, .st = S_CODE};
	size_t i = 0, start = 0, cap = 0;
	int content = 0;

	*out = NULL;
	*n = 0;
	if (sql == NULL)
		return -1;
	while (sql[i] != '\0') {
		int old = lx.st;
		size_t k;
		if (old == S_CODE && sql[i] == ';') {
			if (content && push_stmt(sql, start, i, out, n, &cap) != 0)
				goto fail;
			content = 0;
			start = ++i;
			continue;
		}
		k = lex_advance(&lx, i);
		if (old == S_CODE && (lx.st == S_LINE || lx.st == S_BLOCK))
			; /* a comment starts: not content */
		else if (old == S_CODE ? !is_space(sql[i]) : (old != S_LINE && old != S_BLOCK))
			content = 1;
		i += k;
	}
	if (lx.st != S_CODE && lx.st != S_LINE)
		goto fail; /* unterminated quote, comment or dollar quote */
	if (content && push_stmt(sql, start, i, out, n, &cap) != 0)
		goto fail;
	if (*n == 0) {
		free(*out);
		*out = NULL;
	}
	return 0;
fail:
	sdk_statements_free(*out, *n);
	*out = NULL;
	*n = 0;
	return -1;
}

int
sdk_split_statements(const char *sql, char ***out, size_t *n)
{
	return sdk_split_statements_ex(sql, SDK_SQL_POSTGRES, out, n);
}

/* --- templates ------------------------------------------------------------------- */

/* A growable buffer that never leaves copies of its content in freed
 * memory (no realloc: grow by copy-and-wipe). */
struct wbuf {
	char *p;
	size_t len, cap;
};

static int
wbuf_add(struct wbuf *b, const char *s, size_t n)
{
	if (n > SDK_TEMPLATE_MAX || b->len + n > SDK_TEMPLATE_MAX)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *p;
		while (nc < b->len + n + 1)
			nc *= 2;
		if ((p = malloc(nc)) == NULL)
			return -1;
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			explicit_bzero(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void
wbuf_free(struct wbuf *b)
{
	if (b->p != NULL) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

static int
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* Parse "{{ key }}" at t; copy the key into key (cap kcap) and return the
 * length of the placeholder, or 0 when malformed. */
static size_t
parse_placeholder(const char *t, char *key, size_t kcap)
{
	size_t i = 2, a, b;

	while (t[i] == ' ')
		i++;
	a = i;
	while (is_key_char(t[i]))
		i++;
	b = i;
	while (t[i] == ' ')
		i++;
	if (b == a || t[i] != '}' || t[i + 1] != '}' || b - a >= kcap)
		return 0;
	memcpy(key, t + a, b - a);
	key[b - a] = '\0';
	return i + 2;
}

int
sdk_template_ex(const char *tmpl, int dialect, const struct sd_kv *vars, sdk_escape_fn esc,
		void *arg, char **out, char *err, size_t cap)
{
	struct lexer lx = {.s = tmpl, .dialect = dialect, .st = S_CODE};
	struct wbuf b = {0};
	size_t i = 0, lit = 0;
	char key[64];
	char *val = NULL;

	*out = NULL;
	if (tmpl == NULL || esc == NULL) {
		sdk_err(err, cap, "template: no template");
		return -1;
	}
	while (tmpl[i] != '\0') {
		const char *v;
		size_t plen;
		int ctx;
		char quote;

		if (!(tmpl[i] == '{' && tmpl[i + 1] == '{')) {
			i += lex_advance(&lx, i);
			continue;
		}
		plen = parse_placeholder(tmpl + i, key, sizeof(key));
		if (plen == 0) {
			sdk_err(err, cap, "template: malformed placeholder (expected {{name}})");
			goto fail;
		}
		if ((v = sdk_kv_get(vars, key)) == NULL) {
			sdk_err(err, cap, "template: unknown placeholder {{%s}}", key);
			goto fail;
		}
		ctx = lx.st == S_DOLLAR ? lx.in : lx.st;
		switch (ctx) {
		case S_CODE: quote = 0; break;
		case S_SQ: quote = '\''; break;
		case S_DQ: quote = '"'; break;
		case S_BT: quote = '`'; break;
		default:
			sdk_err(err, cap, "template: placeholder {{%s}} inside a comment", key);
			goto fail;
		}
		if ((val = esc(arg, key, v, quote)) == NULL) {
			sdk_err(err, cap, "template: the value of {{%s}} cannot be quoted safely here", key);
			goto fail;
		}
		if (lx.st == S_DOLLAR && memmem(val, strlen(val), lx.tag, lx.taglen) != NULL) {
			sdk_err(err, cap, "template: the value of {{%s}} would end a dollar-quoted string",
				key);
			goto fail;
		}
		if (wbuf_add(&b, tmpl + lit, i - lit) != 0 || wbuf_add(&b, val, strlen(val)) != 0) {
			sdk_err(err, cap, "template: result too large or out of memory");
			goto fail;
		}
		sdk_str_free(val);
		val = NULL;
		i += plen;
		lit = i;
	}
	if (wbuf_add(&b, tmpl + lit, i - lit) != 0) {
		sdk_err(err, cap, "template: result too large or out of memory");
		goto fail;
	}
	*out = b.p; /* b.cap may exceed len: sdk_str_free wipes strlen bytes,
		     * the rest was never written */
	return 0;
fail:
	sdk_str_free(val);
	wbuf_free(&b);
	return -1;
}

int
sdk_template(const char *tmpl, const struct sd_kv *vars, sdk_escape_fn esc, void *arg, char **out,
	     char *err, size_t cap)
{
	return sdk_template_ex(tmpl, SDK_SQL_POSTGRES, vars, esc, arg, out, err, cap);
}

static char *
escape_double(const char *value, char quote, int wrap)
{
	size_t n = 0, i, j = 0;
	char *d;

	if (value == NULL)
		return NULL;
	for (i = 0; value[i] != '\0'; i++)
		n += value[i] == quote ? 2 : 1;
	if ((d = malloc(n + 3)) == NULL)
		return NULL;
	if (wrap)
		d[j++] = quote;
	for (i = 0; value[i] != '\0'; i++) {
		d[j++] = value[i];
		if (value[i] == quote)
			d[j++] = quote;
	}
	if (wrap)
		d[j++] = quote;
	d[j] = '\0';
	return d;
}

char *
sdk_escape_double(const char *value, char quote)
{
	return escape_double(value, quote, 0);
}

char *
sdk_quote_double(const char *value, char quote)
{
	return escape_double(value, quote, 1);
}

/* --- checking a role's statement lists ---------------------------------------------- */

/* stmts (may be NULL: nothing to check) splits and renders with exactly the
 * placeholders in vars. */
static int check_statements(const char *setting, const char *stmts, int dialect,
			    const struct sd_kv *vars, int required, sdk_escape_fn esc, char *err,
			    size_t cap)
{
	char **list = NULL, *out = NULL, e[160];
	size_t n = 0, i;
	int rc = SD_POK;

	if (stmts == NULL)
		return SD_POK;
	if (sdk_split_statements_ex(stmts, dialect, &list, &n) != 0) {
		sdk_err(err, cap, "%s: unterminated quote or comment, or too many statements", setting);
		return SD_PINVAL;
	}
	if (n == 0 && required) {
		sdk_err(err, cap, "%s: no statement", setting);
		rc = SD_PINVAL;
	}
	for (i = 0; i < n && rc == SD_POK; i++) {
		if (sdk_template_ex(list[i], dialect, vars, esc, NULL, &out, e, sizeof(e)) != 0) {
			sdk_err(err, cap, "%s, statement %zu: %s", setting, i + 1, e);
			rc = SD_PINVAL;
		}
		sdk_str_free(out);
		out = NULL;
	}
	sdk_statements_free(list, n);
	return rc;
}

int sdk_check_sql_role(const struct sd_kv *role, int dialect, sdk_escape_fn esc, char *err, size_t cap)
{
	static const struct sd_kv all[] = {
		{"name", "n"}, {"password", "p"}, {"expiration", "e"}, {NULL, NULL}};
	static const struct sd_kv renew[] = {{"name", "n"}, {"expiration", "e"}, {NULL, NULL}};
	static const struct sd_kv revoke[] = {{"name", "n"}, {NULL, NULL}};
	static const struct sd_kv rotate[] = {{"name", "n"}, {"password", "p"}, {NULL, NULL}};
	const char *creation = sdk_kv_get(role, "creation_statements");

	if (creation == NULL) {
		sdk_err(err, cap, "creation_statements is required");
		return SD_PINVAL;
	}
	if (check_statements("creation_statements", creation, dialect, all, 1, esc, err, cap) != SD_POK ||
	    check_statements("renew_statements", sdk_kv_get(role, "renew_statements"), dialect, renew, 0,
			     esc, err, cap) != SD_POK ||
	    check_statements("revocation_statements", sdk_kv_get(role, "revocation_statements"),
			     dialect, revoke, 1, esc, err, cap) != SD_POK ||
	    check_statements("rotation_statements", sdk_kv_get(role, "rotation_statements"), dialect,
			     rotate, 1, esc, err, cap) != SD_POK)
		return SD_PINVAL;
	return SD_POK;
}
