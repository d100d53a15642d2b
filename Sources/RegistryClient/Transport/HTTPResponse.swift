/// A registry's answer: status, headers and the whole body.
struct HTTPResponse: Sendable {
    let status: Int
    /// In order of arrival, names lowercased (HTTP header names are case-insensitive).
    let headers: [(name: String, value: String)]
    let body: [UInt8]
    /// The server keeps the connection open for another request (HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `keep-alive`), and the body did not run to the close.
    let keepsConnection: Bool

    /// The first value of a header, by case-insensitive name.
    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }
}
