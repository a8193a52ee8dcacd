from herald.kit.migrations import run_env
from herald.services.users.models import Base

run_env(Base.metadata)
