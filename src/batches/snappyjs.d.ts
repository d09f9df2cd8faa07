declare module 'snappyjs' {
  /** Raw snappy block (no framing). */
  export function compress(input: Uint8Array): Uint8Array;
  /** Throws when the stream is invalid or its declared length exceeds `maxLength`. */
  export function uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}
