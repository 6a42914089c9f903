/** The parts of kissfft-js (KissFFT via Emscripten, no types of its own) that we use. */
declare module "kissfft-js" {
  namespace kissfft {
    /** Real FFT of even length `size`. */
    class FFTR {
      constructor(size: number);
      /** Interleaved complex bins 0 … size/2, a view into the module's heap. */
      forward(input: ArrayLike<number>): Float32Array;
      dispose(): void;
    }
  }
  const kissfft: { FFTR: typeof kissfft.FFTR };
  export default kissfft;
}
