/** This program's version, printed by `tooltool version` and sent as the User-Agent. */
export const VERSION = "0.1.0";

/** The User-Agent of every request. */
export const USER_AGENT = `tooltool-deno/${VERSION}`;
