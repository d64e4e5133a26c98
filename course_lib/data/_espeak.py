"""The child process of ``data.speech.synthesize``: eSpeak NG through ``ctypes``.

Reads a JSON list of ``[text, {"name", "rate", "pitch"}]`` on stdin and writes, for each text,
its sample count (little-endian int64) and its 22,050 Hz int16 samples to stdout. Imports only
the standard library and ``espeakng_loader`` (which ships the library and its voices), so it
starts quickly. Run as ``python -m course_lib.data._espeak``; nothing runs on import.
"""

from __future__ import annotations

import ctypes
import json
import struct
import sys

ESPEAK_RATE = 22_050
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: espeak_Synth returns when all samples have been passed on
_DONT_EXIT = 0x8000  # espeakINITIALIZE_DONT_EXIT: report errors instead of exiting the process
_RATE, _PITCH = 1, 3  # espeakRATE, espeakPITCH
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_SEED = 0


def main() -> None:
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), _DONT_EXIT)
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"eSpeak NG failed to start or runs at {rate} Hz, expected {ESPEAK_RATE}")
    # Voices with breath noise (f2, f3, f5...) draw random numbers from a generator that the library
    # seeds from the clock; a fixed seed makes their samples repeat from run to run.
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed(_SEED)
    chunks: list[bytes] = []

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    def collect(wav, n, events):  # espeak_Synth calls this with each block of samples
        if n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0  # 0: go on synthesising

    lib.espeak_SetSynthCallback(collect)
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    out = sys.stdout.buffer
    for text, voice in json.load(sys.stdin):
        if lib.espeak_SetVoiceByName(voice["name"].encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice['name']!r}")
        lib.espeak_SetParameter(_RATE, int(voice["rate"]), 0)
        lib.espeak_SetParameter(_PITCH, int(voice["pitch"]), 0)
        chunks.clear()
        data = text.encode()
        if lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
            raise RuntimeError(f"espeak_Synth failed on {text!r}")
        audio = b"".join(chunks)
        out.write(struct.pack("<q", len(audio) // 2) + audio)
    out.flush()
    lib.espeak_Terminate()


if __name__ == "__main__":
    main()
