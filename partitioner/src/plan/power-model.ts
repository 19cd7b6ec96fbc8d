/**
 * Edge device power model for the `energy` objective: joules = compute W × head time
 * + radio W × transfer time + idle W × time waiting for the cloud.
 *
 * Defaults describe a Raspberry-Pi-4-class gateway on Wi-Fi:
 * - compute 3.7 W: a Pi 4 draws about 2.7 W idle and 6.4 W with all cores busy (Raspberry Pi
 *   Foundation / Tom's Hardware measurements), so inference adds roughly 3.7 W;
 * - radio 1.3 W: Wi-Fi uplink power measured by Huang et al., "A Close Examination of
 *   Performance and Power Characteristics of 4G LTE Networks", MobiSys 2012 (Wi-Fi ≈ 1.2–1.4 W
 *   while sending; LTE is higher, ≈ 1.3 W + 0.44 W per Mbps, so raise it for cellular links);
 * - idle 0.9 W: the extra draw of a board waiting on the network with the radio associated.
 */
export interface PowerModel {
  readonly computeWatts: number;
  readonly radioWatts: number;
  readonly idleWatts: number;
}

/** See {@link PowerModel} for where these figures come from. */
export const DEFAULT_POWER_MODEL: PowerModel = Object.freeze({ computeWatts: 3.7, radioWatts: 1.3, idleWatts: 0.9 });
