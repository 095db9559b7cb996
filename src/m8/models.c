/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The battery models and type facts of docs/m8bus.md sections 4 and 5. */
#include <string.h>

#include "smallbms/m8_proto.h"

#define CELL_NOMINAL_MV 3200

static const struct m8_model models[] = {
        {"12.8/100", M8_TYPE_12V8, 4, 100, 100, 200, 100, 200},
        {"12.8/150", M8_TYPE_12V8, 4, 150, 150, 300, 150, 225},
        {"12.8/200", M8_TYPE_12V8, 4, 200, 200, 400, 200, 400},
        {"12.8/300", M8_TYPE_12V8, 4, 300, 300, 600, 300, 450},
        {"25.6/100", M8_TYPE_25V6, 8, 100, 100, 200, 100, 200},
        {"25.6/200", M8_TYPE_25V6, 8, 200, 200, 400, 200, 400},
        {"25.6/300", M8_TYPE_25V6, 8, 300, 300, 600, 300, 450},
        {"51.2/100", M8_TYPE_51V2, 16, 100, 100, 200, 100, 200},
};

const struct m8_model *m8_models(size_t *count)
{
	if (count)
		*count = sizeof(models) / sizeof(models[0]);
	return models;
}

const struct m8_model *m8_model_by_name(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strcmp(models[i].name, name) == 0)
			return &models[i];
	return NULL;
}

unsigned m8_type_cells(uint8_t type)
{
	switch (type) {
	case M8_TYPE_12V8:
		return 4;
	case M8_TYPE_25V6:
		return 8;
	case M8_TYPE_51V2:
		return 16;
	default:
		return 0;
	}
}

unsigned m8_type_nominal_mv(uint8_t type)
{
	return m8_type_cells(type) * CELL_NOMINAL_MV;
}

unsigned m8_type_max_batteries(uint8_t type)
{
	switch (type) {
	case M8_TYPE_12V8:
	case M8_TYPE_25V6:
		return 50;
	case M8_TYPE_51V2:
		return 25;
	default:
		return 0;
	}
}
