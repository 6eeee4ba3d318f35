/*
 * Self-announcement after a migration: the RARP frames a VMM sends on
 * behalf of a guest that just moved, so that switches learn the MAC's new
 * port (what QEMU's qemu_announce_self does).  A reverse request
 * (ethertype 0x8035, opcode 3) from the VM's MAC to broadcast, padded to
 * the 60-byte Ethernet minimum, sent in RARP_ROUNDS rounds: the first at
 * once, then after 50, 150, 250 and 350 ms (QEMU's default schedule).
 *
 * Pure logic, unit-tested; the device sends the frames.
 */
#ifndef GW_DEV_RARP_H
#define GW_DEV_RARP_H

#include <stddef.h>
#include <stdint.h>

#define RARP_FRAME_BYTES 60
#define RARP_ROUNDS 5
#define RARP_ETHERTYPE 0x8035

/* Writes the frame for mac into frame; returns RARP_FRAME_BYTES. */
size_t rarp_build(uint8_t frame[RARP_FRAME_BYTES], const uint8_t mac[6]);

/* Delay before round (0-based) in ms: 0, 50, 150, 250, 350; -1 past the last. */
int rarp_round_delay_ms(unsigned round);

#endif
