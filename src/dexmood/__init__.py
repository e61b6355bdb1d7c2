"""dexmood: the package behind the dexmedetomidine (DEX) pain-and-mood re-analysis book.

One module per analysis stage; notebooks call these functions and stay thin.
"""

__version__ = "0.1.0"
