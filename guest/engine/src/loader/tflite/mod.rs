pub fn load(_b: &[u8]) -> crate::Result<crate::ir::Graph> {
    Err(crate::unsupported!("todo"))
}
