-- One database per owning service (docs/architecture.md); the herald role owns them.
CREATE DATABASE herald_gateway OWNER herald;
CREATE DATABASE herald_users OWNER herald;
CREATE DATABASE herald_templates OWNER herald;
CREATE DATABASE herald_email_worker OWNER herald;
CREATE DATABASE herald_push_worker OWNER herald;
