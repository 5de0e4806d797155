//! What the commands read, each with as few requests as its question needs: one paginated LIST per kind.

pub mod doctor;
pub mod route;
pub mod sidecar_certs;
