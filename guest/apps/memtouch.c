/*
 * memtouch: the proof that guest memory arrives intact (in the spirit of
 * QEMU's "a-b" migration test guest).
 *
 * The region [start, start + mem) is split into one contiguous share per
 * vCPU.  Each vCPU sweeps its share over and over; sweep s writes s into
 * the first word of every page and a stamp of (s, page address) into the
 * last word.  So at any instant a share looks like
 *
 *     pages [0, pos)      hold sweep s      (already rewritten)
 *     pages [pos, npages) hold sweep s - 1  (not yet)
 *
 * where s and pos are the writer's own progress.  Verification checks
 * exactly that, page by page: a page that was lost, stale, or copied to
 * the wrong address breaks the pattern.  Fresh RAM (never written) holds
 * zeros, which is "sweep 0" with a zero stamp.
 *
 * Command line (all optional):
 *   mem=SIZE     region size (default: all RAM above the image)
 *   rate=N       pages per second for the whole VM (default 0: as fast as possible)
 *   verify=S     after S seconds stop, verify, print the result and exit
 *                (0 if OK, 1 if not); default 0: run until stopped
 *   check=S      every S seconds pause the sweeps, verify, print
 *                "memtouch: check OK <pages> pages" and go on (on a bad page:
 *                print it and exit 1); so a guest proves itself after each
 *                migration without stopping
 *   progress=0   no per-second progress lines
 */
#include "memtouch_core.h"
#include "sdk.h"

void app_main(unsigned cpu)
{
    if (cpu == 0)
        mt_setup(0);
    mt_run(cpu);
}
