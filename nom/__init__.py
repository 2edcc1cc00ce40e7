"""The Nectar Object Model: NOM objects, their text forms, and the file store."""

from nom.codec import dumps, dumps_nom, loads, loads_nom
from nom.errors import CorruptFile, NomError, StoreError
from nom.ids import IdClock
from nom.index import FileInfo
from nom.model import Nom, check_job_id, check_type, is_job_id, slug, tweet_type, type_matches
from nom.arrays import Encoded
from nom.store import Quarantined, Scan, Store, Usage
from nom.writer import GroupWriter

__all__ = [
    "CorruptFile", "Encoded", "FileInfo", "GroupWriter", "IdClock", "Nom", "NomError", "Quarantined", "Scan", "Store",
    "StoreError", "Usage", "check_job_id", "check_type", "dumps", "dumps_nom", "is_job_id", "loads", "loads_nom",
    "slug", "tweet_type", "type_matches",
]
