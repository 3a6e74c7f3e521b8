"""Settings of one synthetic G4 world; the same settings always give the same files."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Bijstand stock per municipality (domain.md); Den Haag is an unverified assumption.
G4_STOCK: dict[str, int] = {"GM0363": 34880, "GM0599": 32975, "GM0518": 25000, "GM0344": 9204}
# Persons ever on bijstand in the seven-year window, relative to the stock.
EVER_ON_BIJSTAND_FACTOR = 1.3
NOISE_PERSON_SHARE = 0.10  # national persons in the CBS tables who are in no register
MISSING_FROM_KEY_FILE = 0.01
MOVER_SHARE = 0.03
# Edge cases real deliveries have, planted in the written files only (the world and its truth stay as
# they are), as shares of the rows (persons for the keys) of the table named:
EDGE_CASES = {
    "split_benefit_spells": 0.01,  # bijstand: a run delivered as back-to-back spells of other codes
    "household_type_missing": 0.005,  # GBAHUISHOUDENSBUS: TYPHH empty, PLHH kept (also single parents)
    "debt_status_missing": 0.005,  # PROBSCHULDTAB: PROBSCHULDPERS empty
    "care_cost_year_missing": 0.005,  # ZVWZORGKOSTENTAB: a person-year with every cost component empty
    "duplicated_rows": 0.003,  # the same row twice in the spell tables and PROBSCHULDTAB
    "other_key_persons": 0.003,  # register persons whose person key is RINPERSOONS 'S' (cannot link)
    "other_key_namesakes": 0.005,  # another person, RINPERSOONS 'S', with a register person's RINPERSOON
}


@dataclass
class SyntheticConfig:
    seed: int = 20261121
    scale: float = 0.05  # 1.0 = real G4 sizes
    window_start: str = "2018-01"
    window_end: str = "2024-12"
    extract_date: str = "2025-01-15"
    fault_rate: float = 0.01

    def persons_per_municipality(self) -> dict[str, int]:
        """Persons ever on bijstand per municipality (1.3 x the stock, times the scale)."""
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        return {
            gm: max(20, int(round(self.scale * EVER_ON_BIJSTAND_FACTOR * n)))
            for gm, n in G4_STOCK.items()
        }

    def as_dict(self) -> dict:
        return asdict(self)
