"""The frame classifier: a face-crop classifier of any registered family (`register.py`; one module per
family in `families/`), its detector (`detector.py`), checkpoint recognition (`layouts.py`), the authors'
preprocessing machinery (`profiles.py`), the serving rebuild (`inference.py`) and heat maps (`explain.py`).

Importing the package registers every family, as importing timm's models registers theirs.
"""

from scoring.frames import families

__all__ = ["families"]
