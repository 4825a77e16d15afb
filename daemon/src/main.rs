fn main() {
    println!("mailsigd");
}
