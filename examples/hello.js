// The JS hello: compare with examples/hello.rs (the Rust-only ceiling).
export default {
  fetch() {
    return new Response("Hello World");
  },
};
