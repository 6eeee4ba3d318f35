/*
 * The godwit guest SDK, as a workload sees it.
 *
 * A workload defines app_main(), which the tiny kernel runs in ring 3 on
 * every vCPU once the machine is set up (page tables, GDT/TSS/IDT, x2APIC
 * timer).  Ring 3 matters here: under the PVM flavour of KVM, ring 0 runs
 * in KVM's instruction emulator (~2 M instructions/s) while ring 3 runs
 * natively, so everything hot lives in ring 3 and the kernel only handles
 * setup, faults and rare events.  Ring 3 reaches MMIO devices directly;
 * port I/O (console, exit) goes through a syscall, because PVM clears IOPL
 * for ring 3.
 *
 * Returning from app_main() parks that vCPU (halted, interrupts on).
 * sdk_exit() ends the whole VM.
 */
#ifndef GW_GUEST_SDK_H
#define GW_GUEST_SDK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "godwit/abi.h"

/* Defined by the workload; runs in ring 3 on every vCPU. */
void app_main(unsigned cpu);

/* --- machine --- */
const struct gw_boot_info *sdk_boot_info(void);
unsigned sdk_ncpus(void);
/* First 2 MiB-aligned address above the image: free RAM starts here. */
uint64_t sdk_free_ram_start(void);
/* Ends the VM with this exit code (0..255).  Never returns. */
__attribute__((noreturn)) void sdk_exit(int code);
/* Gives the vCPU back to the host until the next interrupt (at most one
 * timer tick, 1/TIMER_HZ s): a guest with nothing to do should not spin. */
void sdk_idle(void);
/* Current privilege level (3 in workloads). */
unsigned sdk_cpl(void);

/* --- time --- */
uint64_t clock_ns(void);            /* monotonic, from the TSC */
uint64_t timer_ticks(unsigned cpu); /* x2APIC timer interrupts taken by cpu */
#define TIMER_HZ 100

/* --- console --- */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* --- command line: "key=value key2=value2 flag" --- */
/* Copies the value of key into buf; returns 1 if present, 0 if not. */
int cmdline_get(const char *key, char *buf, size_t size);
/* Parses key as a number with optional K/M/G suffix; returns def if
 * absent, and ends the VM with an error message if malformed. */
uint64_t cmdline_get_u64(const char *key, uint64_t def);

/* --- strings --- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* --- SMP helpers --- */
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

#endif
