"""Re-run the simulator's calibration (see `dexmood.calibration`) and print the six parameters to paste into
`dexmood.cohort.SimulationDesign`.   .venv/bin/python tools/calibrate_simulation.py [n_seeds]"""

import sys
from dataclasses import asdict

from dexmood import calibration

if __name__ == "__main__":
    design = calibration.calibrate(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print({k: v for k, v in asdict(design).items() if k.startswith(("intercept_", "direct_", "effect_"))})
