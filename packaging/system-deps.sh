#!/usr/bin/env bash
# Install the system packages demixui needs, if missing. Usage: system-deps.sh run|test
#   run:  PortAudio and libsndfile (sound and files), the libraries Qt needs for a window.
#   test: all of run, plus a JACK server (real PortAudio tests), FluidSynth with GM SoundFonts, multisampled
#         drum kits (Hydrogen kits, AVL and MuseScore SoundFonts) and espeak-ng (the training-data generator),
#         Xvfb (GUI tests and the screenshot), and the desktop-entry and AppStream validators (packaging tests).
# On Debian/Ubuntu it uses apt-get (with sudo when not root); elsewhere it prints what to install.
set -euo pipefail
mode="${1:-run}"
run_pkgs=(libportaudio2 libsndfile1 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
          libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0
          libxcb-image0 libglib2.0-0)
test_pkgs=(jackd2 fluidsynth fluid-soundfont-gm timgm6mb-soundfont espeak-ng xvfb xauth
           desktop-file-utils appstream
           hydrogen-drumkits avldrums.lv2-soundfont musescore-general-soundfont-lossless)
pkgs=("${run_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  case "$(uname -s)" in
    Darwin) echo "demixui: on macOS run: brew install portaudio libsndfile fluid-synth espeak-ng jack" ;;
    *) echo "demixui: not a Debian/Ubuntu system; install with your package manager: PortAudio, libsndfile," \
            "and for the tests JACK2, FluidSynth with a General MIDI SoundFont, espeak-ng and Xvfb" ;;
  esac
  exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "demixui: installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
# jackd2 asks about real-time priority; answer it without a prompt.
echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo debconf-set-selections 2>/dev/null || true
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
