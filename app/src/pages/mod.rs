//! One module per page.

mod home;
mod login;
mod not_found;
mod resume;

pub use home::HomePage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use resume::ResumeSession;
