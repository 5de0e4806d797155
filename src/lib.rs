pub mod doctor;
pub mod recover_plan;
