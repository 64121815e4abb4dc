//! One module per page.

pub(crate) mod activity;
mod devices;
mod home;
mod live;
mod login;
mod not_found;
mod passkeys;
mod password;
mod resume;
mod review;
mod security;
mod user_passkeys;
mod users;

pub use activity::{AdminActivityPage, MyActivityPage};
pub use devices::DevicesPage;
pub use home::HomePage;
pub use live::LivePage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use password::PasswordPage;
pub use resume::ResumeSession;
pub use security::SecurityPage;
pub use users::UsersPage;
