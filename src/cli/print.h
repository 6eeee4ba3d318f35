/*
 * Text output of godwit's commands: tables for lists, "key: value" lines
 * for one object, and the compact JSON of -o json.  Pure: each function
 * writes one reply of the agent (docs/agent-api.md) to the FILE * given,
 * tolerating missing fields ("-").
 */
#ifndef GW_CLI_PRINT_H
#define GW_CLI_PRINT_H

#include <jansson.h>
#include <stdio.h>

/* -o json: the object, compact, on one line. */
void print_json(FILE *out, const json_t *obj);

void print_vm(FILE *out, const json_t *vm);
/* {"vms": [...]}: NAME STATE VMM-STATE MEMORY VCPUS MIGRATION */
void print_vm_list(FILE *out, const json_t *reply);
/* {"hosts": [...]}: NAME ADDRESS STATE, STATE being self, up or "down (error)" */
void print_host_list(FILE *out, const json_t *reply);
void print_port_list(FILE *out, const json_t *reply);
/* A migration; one in state `unknown` starts with its hint. */
void print_migration(FILE *out, const json_t *migration);
/* {"migrations": [...]}: ID VM ROLE SOURCE DESTINATION STATE DETAIL */
void print_migration_list(FILE *out, const json_t *reply);

#endif
