"""The attack batch: every attack of the corpus, graded in one batch with honest students.

``tests/conftest.py`` grades it with ``autograder grade`` (fixture ``attacked``);
``tests/test_attacks.py``, ``test_intake.py`` and ``test_tamper.py`` check it.
"""

from .attacks import ATTACKS, HONEST, LENT_ATTACKS, LENT_CHAPTER, LENT_HONEST, SLOW_CHECK
from .attacks_intake import INTAKE_ATTACKS
from .attacks_leftover import LEFTOVER_ATTACKS
from .attacks_tamper import TAMPER_ATTACKS

# Chapter 1: attacks that must score 0, tamperers who keep their honest points,
# honest students, and one whose function is too slow (it loses that task only).
ZERO = ATTACKS + INTAKE_ATTACKS + LEFTOVER_ATTACKS
BATCH = ZERO + TAMPER_ATTACKS + HONEST + [SLOW_CHECK]
# Chapter 5: reading the course's code lent to a check.
LENT_BATCH = LENT_ATTACKS + LENT_HONEST
__all__ = ["BATCH", "LENT_BATCH", "LENT_CHAPTER", "ZERO"]
