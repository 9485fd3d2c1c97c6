pub mod cut;
