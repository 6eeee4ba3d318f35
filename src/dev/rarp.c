/* RARP announce frames and their schedule; see rarp.h. */
#include "dev/rarp.h"

#include <string.h>

size_t rarp_build(uint8_t frame[RARP_FRAME_BYTES], const uint8_t mac[6])
{
    memset(frame, 0, RARP_FRAME_BYTES);
    memset(frame, 0xff, 6);                     /* destination: broadcast */
    memcpy(frame + 6, mac, 6);                  /* source */
    frame[12] = RARP_ETHERTYPE >> 8;
    frame[13] = RARP_ETHERTYPE & 0xff;
    uint8_t *p = frame + 14;
    p[0] = 0x00, p[1] = 0x01;                   /* hardware type: Ethernet */
    p[2] = 0x08, p[3] = 0x00;                   /* protocol type: IPv4 */
    p[4] = 6;                                   /* hardware address length */
    p[5] = 4;                                   /* protocol address length */
    p[6] = 0x00, p[7] = 0x03;                   /* opcode: reverse request */
    memcpy(p + 8, mac, 6);                      /* sender MAC; sender IP 0.0.0.0 */
    memcpy(p + 18, mac, 6);                     /* target MAC; target IP 0.0.0.0 */
    return RARP_FRAME_BYTES;
}

int rarp_round_delay_ms(unsigned round)
{
    /* QEMU: initial 50 ms, +100 ms per round (max 550), 5 rounds. */
    if (round >= RARP_ROUNDS)
        return -1;
    return round == 0 ? 0 : 50 + 100 * (int)(round - 1);
}
