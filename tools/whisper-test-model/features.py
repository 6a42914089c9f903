"""Whisper log-mel features in plain numpy, following HF's
`WhisperFeatureExtractor._np_extract_fbank_features` (== openai/whisper's
`log_mel_spectrogram`) step by step, in float64, cast to float32 at the end."""

import wave

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_LENGTH = 30
N_SAMPLES = SAMPLE_RATE * CHUNK_LENGTH  # 480000
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000

# Slaney mel scale constants (as in HF audio_utils / librosa).
_MIN_LOG_HERTZ = 1000.0
_MIN_LOG_MEL = 15.0
_LOGSTEP = 27.0 / np.log(6.4)


def read_wav_s16_mono(path: str, max_seconds: float | None = None) -> tuple[np.ndarray, bytes, wave._wave_params]:
    """Returns float32 samples in [-1, 1), the raw PCM bytes and the wav params."""
    with wave.open(path, "rb") as w:
        params = w.getparams()
        assert params.sampwidth == 2 and params.nchannels == 1 and params.framerate == SAMPLE_RATE, params
        n = params.nframes if max_seconds is None else min(params.nframes, int(max_seconds * SAMPLE_RATE))
        raw = w.readframes(n)
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return samples, raw, params


def hertz_to_mel(freq):
    freq = np.asarray(freq, dtype=np.float64)
    mels = 3.0 * freq / 200.0
    log_region = freq >= _MIN_LOG_HERTZ
    return np.where(log_region, _MIN_LOG_MEL + np.log(np.maximum(freq, 1e-30) / _MIN_LOG_HERTZ) * _LOGSTEP, mels)


def mel_to_hertz(mels):
    mels = np.asarray(mels, dtype=np.float64)
    freq = 200.0 * mels / 3.0
    log_region = mels >= _MIN_LOG_MEL
    # The inverse of hertz_to_mel: divide by the log step (librosa/HF write np.log(6.4) / 27).
    return np.where(log_region, _MIN_LOG_HERTZ * np.exp((mels - _MIN_LOG_MEL) / _LOGSTEP), freq)


def mel_filter_bank(n_mels: int = 80, n_fft: int = N_FFT, sampling_rate: int = SAMPLE_RATE) -> np.ndarray:
    """HF `mel_filter_bank(1 + n_fft//2, n_mels, 0, sr/2, sr, norm="slaney", mel_scale="slaney")`,
    returned transposed as [n_mels, n_freq] (the orientation openai/whisper uses)."""
    n_freq = 1 + n_fft // 2
    probe = np.array([0.0, 500.0, 1000.0, 4000.0, sampling_rate / 2])
    assert np.allclose(mel_to_hertz(hertz_to_mel(probe)), probe), "mel scale conversions must be inverses"
    mel_freqs = np.linspace(hertz_to_mel(0.0), hertz_to_mel(sampling_rate / 2), n_mels + 2)
    filter_freqs = mel_to_hertz(mel_freqs)
    fft_freqs = np.linspace(0, sampling_rate // 2, n_freq)
    filter_diff = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / filter_diff[:-1]
    up = slopes[:, 2:] / filter_diff[1:]
    filters = np.maximum(0.0, np.minimum(down, up))  # [n_freq, n_mels]
    enorm = 2.0 / (filter_freqs[2:n_mels + 2] - filter_freqs[:n_mels])
    return (filters * enorm[None, :]).T


def pad_or_trim(samples: np.ndarray, length: int = N_SAMPLES) -> np.ndarray:
    out = np.zeros(length, dtype=np.float32)  # padding_value 0.0, right padding
    n = min(length, samples.shape[0])
    out[:n] = samples[:n]
    return out


def log_mel(samples: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """[n_mels, 3000] float32 features of one 30 s window."""
    x = pad_or_trim(samples).astype(np.float64)
    # center=True STFT: reflect-pad n_fft/2 on both sides.
    x = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann
    n_frames = 1 + (x.shape[0] - N_FFT) // HOP_LENGTH  # 3001
    idx = np.arange(N_FFT)[None, :] + HOP_LENGTH * np.arange(n_frames)[:, None]
    spectrum = np.fft.rfft(x[idx] * window[None, :], axis=1)  # [frames, 201]
    power = np.abs(spectrum) ** 2
    mel = np.maximum(1e-10, filters @ power.T)  # [n_mels, frames]
    log_spec = np.log10(mel)[:, :-1]  # Whisper drops the last frame
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
