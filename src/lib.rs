pub mod route;
pub mod schema;
