from herald.kit.migrations import run_env
from herald.services.email_worker.models import Base

run_env(Base.metadata)
