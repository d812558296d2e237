"""Every feature's tables, gathered so that migrations see one metadata."""

from schoolpass.disclosure import models as _disclosure  # noqa: F401
from schoolpass.notices import models as _notices  # noqa: F401
from schoolpass.policy import models as _policy  # noqa: F401  (registers the tables)
from schoolpass.results import models as _results  # noqa: F401
from schoolpass.roster import models as _roster  # noqa: F401
from schoolpass.storage.base import Base
from schoolpass.web import models as _web  # noqa: F401  (staff console)
from schoolpass.web import family_models as _family  # noqa: F401  (family portal)

metadata = Base.metadata
