//! One module per page.

mod devices;
mod home;
mod login;
mod not_found;
mod password;
mod resume;

pub use devices::DevicesPage;
pub use home::HomePage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use password::PasswordPage;
pub use resume::ResumeSession;
