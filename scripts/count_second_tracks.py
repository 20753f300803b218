"""How many clips of an extraction (--max-people 2 or more) hold a second tracked person, and how much of it.

    python scripts/count_second_tracks.py FEATURES [FEATURES ...]

Per folder: clips, clips with a second track (people.second_track: what `train --second-person`
reads), and clips where it is seen in the same frame as the main actor (only those frames get
presence 1), with the median share of the clip's processed frames that holds both. A second track
never seen beside the main actor is the main actor's own pose split off (a new track after a
jump or a gap) or a false detection, not a second person.
"""

from __future__ import annotations

import sys

import numpy as np

from pose_action.extraction.manifest import read_table
from pose_action.layout import FeaturesLayout
from pose_action.people import read_people, second_track


def main(argv: list[str]) -> int:
    for root in argv:
        layout = FeaturesLayout(root)
        manifest = read_table(layout.manifest)
        shares, together = [], []
        for key, processed in zip(manifest["key"], manifest["frames_processed"]):
            path = layout.people(key)
            if not path.is_file():
                continue
            table = read_people(path)
            frames, _ = second_track(table)
            if len(frames):
                shares.append(len(frames) / max(int(processed), 1))
                both = np.isin(frames, table.loc[table["is_main"] == 1, "frame"].to_numpy()).sum()
                if both:
                    together.append(both / max(int(processed), 1))
        text = (f" (seen in {np.median(shares):.0%} of its frames, median)" if shares else "")
        both_text = (f" (both in {np.median(together):.0%} of its frames, median; {min(together):.0%}-"
                     f"{max(together):.0%})" if together else "")
        print(f"{root}: {len(manifest)} clips, {len(shares)} with a second track{text}, "
              f"{len(together)} with it beside the main actor{both_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
