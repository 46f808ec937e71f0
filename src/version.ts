/** This program's version, printed by `tooltool version` and sent as the User-Agent. */
export const VERSION = "0.1.0";
