#!/usr/bin/env bash
# Regenerates the spoken prompts with espeak-ng and sox (Debian packages
# espeak-ng, sox): 16 kHz mono 16-bit WAV files embedded into confabd.
# Usage: mixer/prompt/gen.sh   (or `make generate`)
set -euo pipefail
cd "$(dirname "$0")/wav"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { echo "gen.sh: needs espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; }
say() { # name text
  espeak-ng -v en-us -s 150 -w "/tmp/confab-$1.wav" "$2"
  sox "/tmp/confab-$1.wav" -r 16000 -c 1 -b 16 -e signed-integer "$1.wav" norm -3
  rm -f "/tmp/confab-$1.wav"
}
say enter-pin "Please enter the conference PIN, followed by the pound key."
say wrong-pin "That PIN is not valid. Please try again."
say first-participant "You are the first participant in this conference."
say waiting-for-leader "Please wait. The conference will begin when the leader joins."
say locked "This conference is locked."
say muted "You are muted."
say unmuted "You are no longer muted."
say goodbye "Goodbye."
say full "This conference is full."
say conference-ended "The conference has ended."
say enter-number "Please enter the conference number, followed by the pound key."
say number-not-valid "That conference number is not valid."
say participants "participants in this conference."
for d in 0 1 2 3 4 5 6 7 8 9; do say "digit-$d" "$d"; done
