/**
 * The `Sha512` brand: a lowercase hex SHA-512 digest, the key of everything this tool
 * stores. Its own module so that hashing and the cache need not know the manifest format.
 *
 * @module
 */

/** A lowercase hex SHA-512 digest (128 characters), checked at the boundary. */
export type Sha512 = string & { readonly __brand: "Sha512" };

const SHA512_PATTERN = /^[0-9a-f]{128}$/;

/** Whether `value` is a lowercase hex SHA-512 digest. */
export function isSha512(value: string): value is Sha512 {
  return SHA512_PATTERN.test(value);
}
