#!/bin/sh
# Regenerates the G.722 reference vectors with Debian's ffmpeg (its g722
# encoder and decoder follow ITU-T G.722; the default, trellis off, is the
# plain encoder of the Recommendation), espeak-ng and sox:
#   apt-get install ffmpeg espeak-ng sox
# Each vector NAME has
#   NAME.raw      the 16 kHz signed 16-bit little-endian mono input
#   NAME.g722     ffmpeg's 64 kbit/s encoding of NAME.raw
#   NAME.dec.raw  ffmpeg's decoding of NAME.g722
# and random.g722 is arbitrary octets (not from an encoder), with its
# decoding random.dec.raw, to drive the decoder into states speech never does.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
# pcm IN OUT [EFFECT...] writes IN (a file, or -n for none) to OUT as raw PCM.
pcm() {
	in=$1 out=$2
	shift 2
	sox -R "$in" -t raw -e signed-integer -b 16 -L -c 1 -r 16000 "$out" "$@"
}

# A 1 kHz tone at -6 dBFS, 0.5 s.
pcm -n tone1k.raw synth 0.5 sine 1000 vol 0.5
# A linear sweep 50 Hz to 7.95 kHz at -3 dBFS, 1.5 s.
pcm -n sweep.raw synth 1.5 sine 50-7950 vol 0.7
# Full-scale white noise, 0.5 s: saturates the predictors and quantizers.
pcm -n noise.raw synth 0.5 whitenoise vol 0.99
# Speech from espeak-ng, about 2 s.
espeak-ng -w "$tmp/speech.wav" "Welcome to the conference. Press star six to mute."
pcm "$tmp/speech.wav" speech.raw

for v in tone1k sweep noise speech; do
	ff -f s16le -ar 16000 -ac 1 -i "$v.raw" -c:a g722 -f g722 "$v.g722"
	ff -f g722 -i "$v.g722" -f s16le "$v.dec.raw"
done

# 4000 arbitrary octets (0.5 s), reproducible: the SHA-256 chain of a seed.
python3 - <<'PY'
import hashlib
out, h = b"", b"confab g722 random vector"
while len(out) < 4000:
    h = hashlib.sha256(h).digest()
    out += h
open("random.g722", "wb").write(out[:4000])
PY
ff -f g722 -i random.g722 -f s16le random.dec.raw
