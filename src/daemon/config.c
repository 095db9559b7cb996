/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "daemon/config.h"

#define MAIN_FILE  "smallbmsd.conf"
#define DROPIN_DIR "smallbmsd.conf.d"

/* Where a line's offset was set, to refuse an offset without a chip there. */
struct where {
	char file[PATH_MAX];
	unsigned line;
};

struct parse_state {
	struct bms_config cfg;
	const char *file;
	FILE *fp;
	unsigned line;       /* line just handed to inih */
	bool bad_line;       /* reader met a line it refuses */
	char reason[256];    /* first error of this file */
	unsigned error_line; /* its line */
	struct where offset_at[OUTPUT_LINE_COUNT];
	struct where channel_at[ADC_SIGNAL_COUNT];
};

static const char *const sections[] = {"bus", "adc", "outputs", "state", "mqtt"};

void config_defaults(struct bms_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->bus_port, sizeof(cfg->bus_port), "/dev/ttyS1");
	cfg->min_cycle_ms = CONFIG_MIN_CYCLE_MS_DEFAULT;
	adc_config_defaults(&cfg->adc);
	cfg->outputs_backend = OUTPUTS_BACKEND_GPIOD;
	cfg->power_off = POWER_OFF_AUTO;
	outputs_config_defaults(&cfg->outputs);
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/smallbms");
	mqtt_config_defaults(&cfg->mqtt);
}

static int fail(struct parse_state *ps, unsigned line, const char *fmt, ...) _printf_(3, 4);

/* Copies src to dst (size bytes), every byte outside printable ASCII as
 * \xNN, so that a message never carries a raw byte from a file to a
 * terminal or the journal. */
static void escape(char *dst, size_t size, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!size)
		return;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f) {
			if (o + 1 >= size)
				break;
			dst[o++] = (char)*p;
		} else {
			if (o + 4 >= size)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		}
	}
	dst[o] = '\0';
}

static int fail(struct parse_state *ps, unsigned line, const char *fmt, ...)
{
	char raw[sizeof(ps->reason)];
	va_list ap;

	if (!ps->reason[0]) {
		va_start(ap, fmt);
		vsnprintf(raw, sizeof(raw), fmt, ap);
		va_end(ap);
		escape(ps->reason, sizeof(ps->reason), raw);
		ps->error_line = line;
	}
	return 0; /* inih: this line is an error */
}

static bool known_section(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(sections); i++)
		if (strcmp(s, sections[i]) == 0)
			return true;
	return false;
}

/* Reads one line for inih, counting lines and checking section headers
 * here, because inih only reports a section when a key follows it. */
static char *reader(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	size_t cap = num > 2 ? (size_t)num - 2 : 0; /* room for "\n\0" */
	size_t len = 0, bad_col = 0, cr_col = 0;
	int c, bad = -1;
	bool any = false;

	/* Byte by byte, counting every byte: a NUL cannot end the line early
	 * (fgets and strlen would stop there and hide the rest from the
	 * length check). Control bytes are refused: only tab, and a CR right
	 * before the newline (CRLF files), are allowed. */
	while ((c = getc(ps->fp)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (cr_col && bad < 0) {
			bad = '\r'; /* a CR not at the end of the line */
			bad_col = cr_col;
		}
		cr_col = 0;
		len++;
		if (c == '\r')
			cr_col = len;
		else if (bad < 0 && ((c < 0x20 && c != '\t') || c == 0x7f)) {
			bad = c;
			bad_col = len;
		}
		if (len <= cap)
			str[len - 1] = (char)c;
	}
	if (!any)
		return NULL;
	ps->line++;
	if (cr_col)
		len--; /* CRLF: the CR is not part of the line */
	if (bad >= 0 || len > cap) {
		if (bad >= 0)
			fail(ps, ps->line, "control byte \\x%02x in column %zu", (unsigned)bad,
			     bad_col);
		else
			fail(ps, ps->line, "line longer than %zu characters", cap);
		ps->bad_line = true;
		/* Hand inih something it rejects so it reports this line. */
		snprintf(str, (size_t)num, "[\n");
		return str;
	}
	str[len] = '\n';
	str[len + 1] = '\0';
	const char *p = str;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (end) {
			char name[64];
			size_t n = (size_t)(end - p - 1);
			if (n >= sizeof(name))
				n = sizeof(name) - 1;
			memcpy(name, p + 1, n);
			name[n] = '\0';
			if (!known_section(name))
				fail(ps, ps->line, "unknown section [%s]", name);
		}
	}
	return str;
}

static bool copy_str(char *dst, size_t size, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= size)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

static bool absolute_path(char *dst, size_t size, const char *v)
{
	return v[0] == '/' && copy_str(dst, size, v);
}

static bool plain_name(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n == 0 || n >= max)
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

static bool parse_uint(const char *v, unsigned long min, unsigned long max, unsigned long *ret)
{
	unsigned long x = 0;

	if (!*v)
		return false;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		x = x * 10 + (unsigned long)(*p - '0');
		if (x > max)
			return false;
	}
	if (x < min)
		return false;
	*ret = x;
	return true;
}

/* "21", "21.0", "11.125": thousandths, at most 3 decimals, 1.000..1000.000. */
static bool parse_divider(const char *v, uint32_t *ret)
{
	unsigned long whole = 0, frac = 0;
	unsigned places = 0;
	const char *dot = strchr(v, '.');
	char ip[8];

	size_t n = dot ? (size_t)(dot - v) : strlen(v);
	if (n == 0 || n >= sizeof(ip))
		return false;
	memcpy(ip, v, n);
	ip[n] = '\0';
	if (!parse_uint(ip, 0, 1000, &whole))
		return false;
	if (dot) {
		const char *p = dot + 1;
		if (!*p)
			return false;
		for (; *p; p++, places++) {
			if (*p < '0' || *p > '9' || places >= 3)
				return false;
			frac = frac * 10 + (unsigned long)(*p - '0');
		}
	}
	for (; places < 3; places++)
		frac *= 10;
	unsigned long milli = whole * 1000 + frac;
	if (milli < 1000 || milli > 1000000)
		return false;
	*ret = (uint32_t)milli;
	return true;
}

static int handle_adc(struct parse_state *ps, const char *name, const char *value)
{
	struct adc_config *adc = &ps->cfg.adc;
	unsigned long x;
	char key[64];

	if (strcmp(name, "uri") == 0) {
		if (!strchr(value, ':') || !copy_str(adc->uri, sizeof(adc->uri), value))
			return fail(ps, ps->line, "uri: \"%s\" is no libiio URI", value);
		return 1;
	}
	if (strcmp(name, "device") == 0) {
		if (!plain_name(value, sizeof(adc->device)))
			return fail(ps, ps->line, "device: \"%s\" is no IIO device name", value);
		snprintf(adc->device, sizeof(adc->device), "%s", value);
		return 1;
	}
	if (strcmp(name, "range-mv") == 0) {
		if (!parse_uint(value, 1, ADC_MAX_RANGE_MV, &x))
			return fail(ps, ps->line, "range-mv: \"%s\" is not 1..100000", value);
		adc->range_mv = (uint32_t)x;
		return 1;
	}
	if (strcmp(name, "resolution-bits") == 0) {
		/* "driver": the channel's data format says (adc.h). */
		if (strcmp(value, "driver") == 0)
			x = 0;
		else if (!parse_uint(value, 2, ADC_MAX_BITS, &x))
			return fail(ps, ps->line,
			            "resolution-bits: \"%s\" is not \"driver\" or 2..24", value);
		adc->resolution_bits = (uint32_t)x;
		return 1;
	}
	for (unsigned i = 0; i < ADC_SIGNAL_COUNT; i++) {
		snprintf(key, sizeof(key), "%s-channel", adc_signal_name(i));
		if (strcmp(name, key) == 0) {
			if (!plain_name(value, sizeof(adc->channel[i])))
				return fail(ps, ps->line, "%s: \"%s\" is no IIO channel name", key,
				            value);
			if (i == ADC_BANK && strcmp(value, CONFIG_ADC_NONE) == 0)
				return fail(ps, ps->line, "%s: the bank voltage cannot be \"none\"",
				            key);
			snprintf(adc->channel[i], sizeof(adc->channel[i]), "%s", value);
			snprintf(ps->channel_at[i].file, sizeof(ps->channel_at[i].file), "%s",
			         ps->file);
			ps->channel_at[i].line = ps->line;
			return 1;
		}
		snprintf(key, sizeof(key), "%s-divider", adc_signal_name(i));
		if (strcmp(name, key) == 0) {
			if (!parse_divider(value, &adc->divider_milli[i]))
				return fail(ps, ps->line,
				            "%s: \"%s\" is not a ratio 1.0..1000.0 (3 decimals)",
				            key, value);
			return 1;
		}
	}
	return fail(ps, ps->line, "unknown key \"%s\" in [%s]", name, "adc");
}

static int handle_outputs(struct parse_state *ps, const char *name, const char *value)
{
	struct outputs_config *out = &ps->cfg.outputs;
	unsigned long x;

	if (strcmp(name, "backend") == 0) {
		if (strcmp(value, "gpiod") == 0)
			ps->cfg.outputs_backend = OUTPUTS_BACKEND_GPIOD;
		else if (strcmp(value, "dry-run") == 0)
			ps->cfg.outputs_backend = OUTPUTS_BACKEND_DRYRUN;
		else
			return fail(ps, ps->line,
			            "backend: \"%s\" is neither \"gpiod\" nor \"dry-run\"", value);
		return 1;
	}
	if (strcmp(name, "power-off") == 0) {
		if (strcmp(value, "auto") == 0)
			ps->cfg.power_off = POWER_OFF_AUTO;
		else if (strcmp(value, "yes") == 0)
			ps->cfg.power_off = POWER_OFF_YES;
		else if (strcmp(value, "no") == 0)
			ps->cfg.power_off = POWER_OFF_NO;
		else
			return fail(ps, ps->line,
			            "power-off: \"%s\" is none of \"auto\", \"yes\", \"no\"",
			            value);
		return 1;
	}
	if (strcmp(name, "chip") == 0) {
		/* Empty: search every chip for the line names. */
		if (value[0] && !absolute_path(out->chip, sizeof(out->chip), value))
			return fail(ps, ps->line, "chip: \"%s\" is not an absolute path", value);
		if (!value[0])
			out->chip[0] = '\0';
		return 1;
	}
	for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++) {
		if (strcmp(name, output_line_name(i)) != 0)
			continue;
		if (value[0] >= '0' && value[0] <= '9') {
			if (!parse_uint(value, 0, 65535, &x))
				return fail(ps, ps->line, "%s: \"%s\" is no line offset (0..65535)",
				            name, value);
			out->line[i].offset = (int)x;
			snprintf(ps->offset_at[i].file, sizeof(ps->offset_at[i].file), "%s",
			         ps->file);
			ps->offset_at[i].line = ps->line;
		} else {
			if (!plain_name(value, sizeof(out->line[i].name)))
				return fail(ps, ps->line, "%s: \"%s\" is no GPIO line name", name,
				            value);
			snprintf(out->line[i].name, sizeof(out->line[i].name), "%s", value);
			out->line[i].offset = -1;
		}
		return 1;
	}
	return fail(ps, ps->line, "unknown key \"%s\" in [%s]", name, "outputs");
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *ps = user;

	if (ps->bad_line)
		return 0;
	if (!known_section(section)) {
		if (!section[0])
			return fail(ps, ps->line, "key \"%s\" outside a section", name);
		return fail(ps, ps->line, "unknown section [%s]", section);
	}
	if (strcmp(section, "bus") == 0) {
		if (strcmp(name, "min-cycle-ms") == 0) {
			unsigned long x;

			if (!parse_uint(value, CONFIG_MIN_CYCLE_MS_MIN, CONFIG_MIN_CYCLE_MS_MAX,
			                &x))
				return fail(ps, ps->line, "min-cycle-ms: \"%s\" is not %d..%d",
				            value, CONFIG_MIN_CYCLE_MS_MIN,
				            CONFIG_MIN_CYCLE_MS_MAX);
			ps->cfg.min_cycle_ms = (unsigned)x;
			return 1;
		}
		if (strcmp(name, "port") != 0)
			return fail(ps, ps->line, "unknown key \"%s\" in [%s]", name, "bus");
		if (!absolute_path(ps->cfg.bus_port, sizeof(ps->cfg.bus_port), value))
			return fail(ps, ps->line, "port: \"%s\" is not an absolute path", value);
		return 1;
	}
	if (strcmp(section, "state") == 0) {
		if (strcmp(name, "directory") != 0)
			return fail(ps, ps->line, "unknown key \"%s\" in [%s]", name, "state");
		if (!absolute_path(ps->cfg.state_dir, sizeof(ps->cfg.state_dir), value))
			return fail(ps, ps->line, "directory: \"%s\" is not an absolute path",
			            value);
		return 1;
	}
	if (strcmp(section, "adc") == 0)
		return handle_adc(ps, name, value);
	if (strcmp(section, "mqtt") == 0) {
		char why[sizeof(ps->reason)];
		int r = mqtt_config_key(&ps->cfg.mqtt, name, value, why, sizeof(why));
		if (r == 0)
			return fail(ps, ps->line, "unknown key \"%s\" in [%s]", name, "mqtt");
		if (r < 0)
			return fail(ps, ps->line, "%s", why);
		return 1;
	}
	return handle_outputs(ps, name, value);
}

static void set_error(struct config_error *err, const char *file, unsigned line, const char *reason)
{
	char shown[PATH_MAX];

	if (!err)
		return;
	/* A drop-in's path may be longer than PATH_MAX (its directory plus the
	 * name): cut short on purpose; using the result tells -O3 so. */
	if (snprintf(err->file, sizeof(err->file), "%s", file) < 0)
		err->file[0] = '\0';
	err->line = line;
	escape(err->reason, sizeof(err->reason), reason);
	escape(shown, sizeof(shown), file); /* a drop-in's name is any bytes */
	/* A message longer than the buffer is cut short on purpose; using the
	 * result tells -O2's truncation check so. */
	int n;
	if (line)
		n = snprintf(err->message, sizeof(err->message), "%s:%u: %s", shown, line,
		             err->reason);
	else
		n = snprintf(err->message, sizeof(err->message), "%s: %s", shown, err->reason);
	if (n < 0)
		err->message[0] = '\0';
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a file";
}

/* Opens path for reading, refusing anything but a regular file. Opened
 * non-blocking: a FIFO would otherwise hang the start until a writer came. */
static int open_regular(const char *path, bool optional, struct config_error *err, FILE **ret)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		int r = -errno;
		if (optional && r == -ENOENT)
			return 0;
		set_error(err, path, 0, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		set_error(err, path, 0, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		char why[64];
		close(fd);
		snprintf(why, sizeof(why), "not a regular file (%s)", file_kind(st.st_mode));
		set_error(err, path, 0, why);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	*ret = fdopen(fd, "r");
	if (!*ret) {
		int r = -errno;
		close(fd);
		set_error(err, path, 0, strerror(-r));
		return r;
	}
	return 0;
}

static int parse_file(struct parse_state *ps, const char *path, bool optional,
                      struct config_error *err)
{
	ps->fp = NULL;
	int r = open_regular(path, optional, err, &ps->fp);
	if (r < 0 || !ps->fp)
		return r;
	ps->file = path;
	ps->line = 0;
	ps->bad_line = false;
	ps->reason[0] = '\0';
	ps->error_line = 0;
	r = ini_parse_stream(reader, ps, handler, ps);
	fclose(ps->fp);
	ps->fp = NULL;
	if (r == 0 && !ps->reason[0])
		return 0;
	if (r == -2) {
		set_error(err, path, 0, "out of memory");
		return -ENOMEM;
	}
	if (ps->reason[0])
		set_error(err, path, ps->error_line, ps->reason);
	else
		set_error(err, path, (unsigned)r,
		          "syntax error (expected [section] or key = value)");
	return -EINVAL;
}

static int dropin_filter(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0;
}

static int lexical(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int config_load(const char *dir, struct bms_config *cfg, struct config_error *err)
{
	char path[PATH_MAX + 300];
	struct dirent **list = NULL;

	if (!dir || !cfg)
		return -EINVAL;
	_cleanup_free_ struct parse_state *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	config_defaults(&ps->cfg);

	snprintf(path, sizeof(path), "%s/%s", dir, MAIN_FILE);
	int r = parse_file(ps, path, true, err);
	if (r < 0)
		return r;

	snprintf(path, sizeof(path), "%s/%s", dir, DROPIN_DIR);
	int n = scandir(path, &list, dropin_filter, lexical);
	if (n < 0 && errno != ENOENT) {
		r = -errno;
		set_error(err, path, 0, strerror(-r));
		return r;
	}
	for (int i = 0; i < n; i++) {
		if (r >= 0) {
			snprintf(path, sizeof(path), "%s/%s/%s", dir, DROPIN_DIR, list[i]->d_name);
			r = parse_file(ps, path, false, err);
		}
		free(list[i]);
	}
	free(list);
	if (r < 0)
		return r;

	/* An offset only means something on a named chip. */
	if (!ps->cfg.outputs.chip[0])
		for (unsigned i = 0; i < OUTPUT_LINE_COUNT; i++)
			if (ps->cfg.outputs.line[i].offset >= 0) {
				set_error(err, ps->offset_at[i].file, ps->offset_at[i].line,
				          "a line offset needs [outputs] chip");
				return -EINVAL;
			}
	/* Half a remote terminal cannot be decoded: both wired or neither. */
	if (config_adc_none(&ps->cfg, ADC_REMOTE_H) != config_adc_none(&ps->cfg, ADC_REMOTE_L)) {
		enum adc_signal s =
		        config_adc_none(&ps->cfg, ADC_REMOTE_H) ? ADC_REMOTE_H : ADC_REMOTE_L;
		set_error(err, ps->channel_at[s].file, ps->channel_at[s].line,
		          "remote-h-channel and remote-l-channel must both be \"none\" or neither");
		return -EINVAL;
	}
	char why[256];
	if (mqtt_config_check(&ps->cfg.mqtt, why, sizeof(why)) < 0) {
		snprintf(path, sizeof(path), "%s/%s", dir, MAIN_FILE);
		set_error(err, path, 0, why);
		return -EINVAL;
	}
	*cfg = ps->cfg;
	return 0;
}

bool config_adc_none(const struct bms_config *cfg, enum adc_signal s)
{
	return (unsigned)s < ADC_SIGNAL_COUNT && s != ADC_BANK &&
	       strcmp(cfg->adc.channel[s], CONFIG_ADC_NONE) == 0;
}
