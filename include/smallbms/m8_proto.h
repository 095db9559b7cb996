/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * M8-bus protocol (docs/m8bus.md; installed as
 * /usr/share/doc/smallbmsd/m8bus.md): frame codec, payloads and the
 * battery models. Shared by the daemon's bus master and the simulator.
 * Pure functions, no I/O. Errors are negative errno values.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define M8_SOF              0xA5
#define M8_HEADER_LEN       5 /* SOF ADDR CMD SEQ LEN */
#define M8_CRC_LEN          2
#define M8_MAX_PAYLOAD      248
#define M8_MAX_FRAME        (M8_HEADER_LEN + M8_MAX_PAYLOAD + M8_CRC_LEN)

#define M8_ADDR_UNADDRESSED 0x00
#define M8_ADDR_MIN         0x01
#define M8_ADDR_MAX         0x32 /* 50 */
#define M8_ADDR_BROADCAST   0xFF

enum m8_cmd {
	M8_CMD_RESET = 0x01,
	M8_CMD_ASSIGN = 0x02,
	M8_CMD_GET_INFO = 0x03,
	M8_CMD_GET_STATUS = 0x04,
	M8_CMD_IDENTIFY = 0x05,
	M8_CMD_FW_BEGIN = 0x10,
	M8_CMD_FW_DATA = 0x11,
	M8_CMD_FW_END = 0x12,
	M8_CMD_FW_ABORT = 0x13,
};

#define M8_REPLY_BIT 0x80
#define M8_CMD_NAK   0xFF

enum m8_nak_reason {
	M8_NAK_UNKNOWN_CMD = 1,
	M8_NAK_BAD_LENGTH = 2,
	M8_NAK_BAD_PARAM = 3,
	M8_NAK_BUSY = 4,
	M8_NAK_FW_SEQUENCE = 5,
};

enum m8_fw_result {
	M8_FW_RESULT_OK = 0,
	M8_FW_RESULT_VERIFY_FAILED = 6,
};

/* One frame, decoded. len is the payload length (0..248). */
struct m8_frame {
	uint8_t addr;
	uint8_t cmd;
	uint8_t seq;
	uint8_t len;
	uint8_t payload[M8_MAX_PAYLOAD];
};

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout. */
uint16_t m8_crc16(const uint8_t *data, size_t len);
/* Continue a CRC over more bytes (start with 0xFFFF). */
uint16_t m8_crc16_update(uint16_t crc, const uint8_t *data, size_t len);

/* Encodes f into out. Returns the frame's length (7 + len), -EINVAL when
 * f->len > 248, -ENOBUFS when cap is too small. */
int m8_frame_encode(const struct m8_frame *f, uint8_t *out, size_t cap);

/*
 * Incremental frame parser, resynchronising as docs/m8bus.md section 2 says:
 * bytes before SOF are discarded; a frame with LEN > 248 or a bad CRC is
 * discarded and hunting resumes at the byte after the discarded SOF.
 */
struct m8_parser_stats {
	uint64_t frames;        /* valid frames delivered */
	uint64_t crc_errors;    /* frames discarded for their CRC */
	uint64_t len_errors;    /* frames discarded for LEN > 248 */
	uint64_t garbage_bytes; /* bytes discarded while hunting for SOF */
	uint64_t idle_drops;    /* partial frames dropped by m8_parser_idle() */
};

struct m8_parser {
	uint8_t buf[M8_MAX_FRAME];
	size_t have; /* bytes of the current candidate frame in buf, SOF first */
	struct m8_parser_stats stats;
};

typedef void (*m8_frame_cb)(const struct m8_frame *f, void *userdata);

void m8_parser_init(struct m8_parser *p);
/* Feeds bytes; calls cb for every valid frame, in order. */
void m8_parser_feed(struct m8_parser *p, const uint8_t *data, size_t len, m8_frame_cb cb,
		    void *userdata);
/* The line was idle for 2 ms: drop a partial frame. */
void m8_parser_idle(struct m8_parser *p);
/* True while a partial frame is buffered. */
bool m8_parser_busy(const struct m8_parser *p);

/* ---- payloads ---- */

#define M8_SERIAL_LEN 16
#define M8_INFO_LEN   33
#define M8_MAX_CELLS  16
#define M8_MAX_TEMPS  4
#define M8_CELL_NA    0xFFFF
#define M8_TEMP_NA    0x7FFF

#define M8_INFO_CHAIN_END 0x01

enum m8_status_flag {
	M8_ST_BALANCING = 0x01,
	M8_ST_FW_UPDATE = 0x02,
	M8_ST_FAULT = 0x04,
	M8_ST_HARD_OV = 0x08,
	M8_ST_HARD_UV = 0x10,
};

enum m8_battery_type {
	M8_TYPE_12V8 = 1, /* 4 cells */
	M8_TYPE_25V6 = 2, /* 8 cells */
	M8_TYPE_51V2 = 3, /* 16 cells */
};

struct m8_info {
	char serial[M8_SERIAL_LEN + 1]; /* NUL-terminated */
	uint8_t type;
	uint16_t capacity_ah;
	uint8_t cells;
	uint8_t sensors;
	uint8_t fw_major, fw_minor, fw_patch;
	uint16_t max_charge_a;
	uint16_t max_charge_pulse_a;
	uint16_t max_discharge_a;
	uint16_t max_discharge_pulse_a;
	uint8_t flags; /* M8_INFO_CHAIN_END */
};

struct m8_status {
	uint16_t voltage_mv;
	int32_t current_ma; /* positive = charging */
	uint8_t flags;      /* enum m8_status_flag */
	uint8_t n_cells;
	uint16_t cell_mv[M8_MAX_CELLS]; /* M8_CELL_NA = not available */
	uint8_t n_temps;
	int16_t temp_dc[M8_MAX_TEMPS]; /* 0.1 degC; M8_TEMP_NA = not available */
};

/* Returns bytes written (33) or -ENOBUFS / -EINVAL. */
int m8_info_encode(const struct m8_info *info, uint8_t *out, size_t cap);
/* -EBADMSG for a wrong length, -EINVAL for values outside the spec
 * (unknown type, cell count not the type's, 0 or >4 sensors, serial not
 * printable ASCII). Changes nothing in *info on error. */
int m8_info_decode(struct m8_info *info, const uint8_t *p, size_t len);
/* Size of a STATUS payload for n cells and t temperatures. */
size_t m8_status_len(unsigned n_cells, unsigned n_temps);
int m8_status_encode(const struct m8_status *st, uint8_t *out, size_t cap);
/* -EBADMSG when the length does not match N and T, -EINVAL for N > 16 or
 * T > 4. Changes nothing in *st on error. */
int m8_status_decode(struct m8_status *st, const uint8_t *p, size_t len);

/* ---- battery models (docs/m8bus.md section 4) ---- */

struct m8_model {
	const char *name; /* "12.8/100" */
	uint8_t type;
	uint8_t cells;
	uint16_t capacity_ah;
	uint16_t max_discharge_a, max_discharge_pulse_a;
	uint16_t max_charge_a, max_charge_pulse_a;
};

/* The table of models; *count receives its length. */
const struct m8_model *m8_models(size_t *count);
const struct m8_model *m8_model_by_name(const char *name);
/* Cells in series for a battery type, 0 for an unknown type. */
unsigned m8_type_cells(uint8_t type);
/* Nominal battery voltage in mV (3200 mV a cell), 0 for an unknown type. */
unsigned m8_type_nominal_mv(uint8_t type);
/* Most batteries of this type in one bank (50, or 25 for type 3). */
unsigned m8_type_max_batteries(uint8_t type);
