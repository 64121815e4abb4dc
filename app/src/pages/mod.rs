//! One module per page.

mod activity;
mod devices;
mod home;
mod login;
mod not_found;
mod password;
mod resume;
mod security;

pub use activity::{AdminActivityPage, MyActivityPage};
pub use devices::DevicesPage;
pub use home::HomePage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use password::PasswordPage;
pub use resume::ResumeSession;
pub use security::SecurityPage;
