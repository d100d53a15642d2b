import AvroCodec
import Foundation
import HTTPServer
import Registry
@testable import RegistryHTTP
import Testing

/// The REST layer called directly — request in, response out, no socket — with authentication on: every
/// endpoint × every kind of caller gets the status and body the permission rules give, and a refused request
/// changes nothing.
@Suite struct PermissionMatrixTests {
    /// Callers: how their `Authorization` header is made.
    enum Caller: String, CaseIterable {
        case anonymous, wrongPassword, unknownUser, otherReader, reader, configWriter, writer

        var authorization: String? {
            switch self {
            case .anonymous: return nil
            case .wrongPassword: return basic("reader", "not-the-password")
            case .unknownUser: return basic("nobody", "secret-nobody")
            default: return basic(rawValue, "secret-\(rawValue)")
            }
        }
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Base64.encode(Array("\(user):\(password)".utf8))
    }

    /// An auth file as Karapace writes it (PBKDF2-SHA1 keeps the test fast; every algorithm is checked against
    /// Python's hashlib in the interop tests).
    static func authFile() -> [UInt8] {
        let users = ["otherReader", "reader", "configWriter", "writer"].map { name -> String in
            let hash = Base64.encode(PasswordAlgorithm.sha1.derive(password: Array("secret-\(name)".utf8), salt: Array("salt-\(name)".utf8)))
            return #"{"username":"\#(name)","algorithm":"sha1","salt":"salt-\#(name)","password_hash":"\#(hash)"}"#
        }
        let permissions = [
            #"{"username":"otherReader","operation":"Read","resource":"Subject:payments-.*"}"#,
            #"{"username":"reader","operation":"Read","resource":"Subject:orders-.*"}"#,
            #"{"username":"configWriter","operation":"Write","resource":"Config:"}"#,
            #"{"username":"writer","operation":"Write","resource":"Subject:orders-.*"}"#,
        ]
        return Array(#"{"users":[\#(users.joined(separator: ","))],"permissions":[\#(permissions.joined(separator: ","))]}"#.utf8)
    }

    /// What an endpoint needs.
    enum Need {
        case nothing, anyUser, readOrders, writeOrders, readConfig, writeConfig, readOrdersSchema
    }

    struct Row: CustomStringConvertible {
        let method: String
        let path: String
        let body: String
        let need: Need
        var description: String { "\(method) \(path)" }
    }

    static let orders = "orders-value"
    static let schema = #"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}"#
    static let evolved = #"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}"#

    static func rows(ordersID: Int, guid: String) -> [Row] {
        let schemaBody = #"{"schema":\#(JSONValue.string(schema).compactText)}"#
        let evolvedBody = #"{"schema":\#(JSONValue.string(evolved).compactText)}"#
        return [
            Row(method: "GET", path: "/", body: "", need: .nothing),
            Row(method: "GET", path: "/health", body: "", need: .nothing),
            Row(method: "GET", path: "/health/ready", body: "", need: .nothing),
            Row(method: "GET", path: "/metrics", body: "", need: .anyUser),
            Row(method: "GET", path: "/v1/metadata/id", body: "", need: .anyUser),
            Row(method: "GET", path: "/v1/metadata/version", body: "", need: .anyUser),
            Row(method: "GET", path: "/schemas/types", body: "", need: .anyUser),
            Row(method: "GET", path: "/subjects", body: "", need: .anyUser),
            Row(method: "GET", path: "/schemas", body: "", need: .anyUser),
            Row(method: "GET", path: "/schemas/ids/\(ordersID)", body: "", need: .readOrdersSchema),
            Row(method: "GET", path: "/schemas/ids/\(ordersID)/schema", body: "", need: .readOrdersSchema),
            Row(method: "GET", path: "/schemas/ids/\(ordersID)/subjects", body: "", need: .readOrdersSchema),
            Row(method: "GET", path: "/schemas/ids/\(ordersID)/versions", body: "", need: .readOrdersSchema),
            Row(method: "GET", path: "/schemas/guids/\(guid)", body: "", need: .readOrdersSchema),
            Row(method: "GET", path: "/schemas/guids/\(guid)/ids", body: "", need: .readOrdersSchema),
            Row(method: "POST", path: "/subjects/\(orders)", body: schemaBody, need: .readOrders),
            Row(method: "GET", path: "/subjects/\(orders)/versions", body: "", need: .readOrders),
            Row(method: "GET", path: "/subjects/\(orders)/versions/1", body: "", need: .readOrders),
            Row(method: "GET", path: "/subjects/\(orders)/versions/latest/schema", body: "", need: .readOrders),
            Row(method: "GET", path: "/subjects/\(orders)/versions/1/referencedby", body: "", need: .readOrders),
            Row(method: "GET", path: "/subjects/\(orders)/metadata", body: "", need: .readOrders),
            Row(method: "GET", path: "/config/\(orders)", body: "", need: .readOrders),
            Row(method: "GET", path: "/mode/\(orders)", body: "", need: .readOrders),
            Row(method: "POST", path: "/subjects/\(orders)/versions", body: evolvedBody, need: .writeOrders),
            Row(method: "POST", path: "/compatibility/subjects/\(orders)/versions/latest", body: evolvedBody, need: .writeOrders),
            Row(method: "POST", path: "/compatibility/subjects/\(orders)/versions", body: evolvedBody, need: .writeOrders),
            Row(method: "DELETE", path: "/subjects/\(orders)/versions/1", body: "", need: .writeOrders),
            Row(method: "DELETE", path: "/subjects/\(orders)", body: "", need: .writeOrders),
            Row(method: "PUT", path: "/config/\(orders)", body: #"{"compatibility":"FULL"}"#, need: .writeOrders),
            Row(method: "DELETE", path: "/config/\(orders)", body: "", need: .writeOrders),
            Row(method: "PUT", path: "/mode/\(orders)", body: #"{"mode":"READONLY"}"#, need: .writeOrders),
            Row(method: "DELETE", path: "/mode/\(orders)", body: "", need: .writeOrders),
            Row(method: "GET", path: "/config", body: "", need: .readConfig),
            Row(method: "GET", path: "/mode", body: "", need: .readConfig),
            Row(method: "PUT", path: "/config", body: #"{"compatibility":"NONE"}"#, need: .writeConfig),
            Row(method: "DELETE", path: "/config", body: "", need: .writeConfig),
            Row(method: "PUT", path: "/mode", body: #"{"mode":"READONLY"}"#, need: .writeConfig),
            Row(method: "DELETE", path: "/mode", body: "", need: .writeConfig),
        ]
    }

    /// A registry with `orders-value` and `payments-value` (one version each; orders has its own level and mode),
    /// the API with authentication on, and the same registry's API without (to look at state).
    static func seeded() throws -> (api: RegistryAPI, admin: RegistryAPI, ordersID: Int, guid: String, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let registry = try SchemaRegistry(databasePath: directory.appendingPathComponent("registry.db").path)
        let admin = RegistryAPI(registry: registry)
        let registered = send(admin, "POST", "/subjects/\(orders)/versions", body: #"{"schema":\#(JSONValue.string(schema).compactText)}"#)
        #expect(registered.status == 200)
        _ = send(admin, "POST", "/subjects/payments-value/versions", body: #"{"schema":"\"string\""}"#)
        _ = send(admin, "PUT", "/config/\(orders)", body: #"{"compatibility":"BACKWARD"}"#)
        _ = send(admin, "PUT", "/mode/\(orders)", body: #"{"mode":"READWRITE"}"#)
        let ordersID: Int
        if case .integer(let id)? = try JSONParser.parse(bytes: registered.body)["id"] { ordersID = Int(id) } else { ordersID = 0 }
        let found = send(admin, "GET", "/subjects/\(orders)/versions/1")
        let guid = try JSONParser.parse(bytes: found.body)["guid"]?.stringValue ?? ""
        #expect(!guid.isEmpty)
        let api = RegistryAPI(registry: registry, authenticator: Authenticator(rules: try AccessRules(parsing: authFile())))
        return (api, admin, ordersID, guid, directory)
    }

    static func send(_ api: RegistryAPI, _ method: String, _ path: String, body: String = "", authorization: String? = nil) -> HTTPResponse {
        var headers = ["content-type": "application/vnd.schemaregistry.v1+json"]
        if let authorization { headers["authorization"] = authorization }
        let parts = path.split(separator: "?", maxSplits: 1)
        let query: [(name: String, value: String)] = parts.count > 1
            ? parts[1].split(separator: "&").map { item in
                let pair = item.split(separator: "=", maxSplits: 1)
                return (name: String(pair[0]), value: pair.count > 1 ? String(pair[1]) : "")
            } : []
        return api.handle(HTTPRequest(method: method, path: String(parts[0]), query: query, headers: headers, body: Array(body.utf8)))
    }

    /// Everything a write could change, as the unrestricted API shows it.
    static func state(_ admin: RegistryAPI) -> String {
        var text = ""
        for path in ["/subjects?deleted=true", "/config", "/mode", "/schemas?deleted=true"] {
            text += path + " " + String(decoding: send(admin, "GET", path).body, as: UTF8.self) + "\n"
        }
        for subject in [orders, "payments-value"] {
            for path in ["/subjects/\(subject)/versions?deleted=true", "/config/\(subject)", "/mode/\(subject)"] {
                text += path + " " + String(decoding: send(admin, "GET", path).body, as: UTF8.self) + "\n"
            }
        }
        return text
    }

    static func errorBody(_ code: Int, _ message: String) -> String {
        JSONValue.object([("error_code", .integer(Int64(code))), ("message", .string(message))]).compactText
    }

    /// The refusal a caller gets for a row, or nil when the request is allowed.
    static func refusal(_ row: Row, _ caller: Caller, ordersID: Int) -> (status: Int, body: String)? {
        let unauthorized = (401, errorBody(401, "Unauthorized"))
        if row.need == .nothing { return nil }
        if [.anonymous, .wrongPassword, .unknownUser].contains(caller) { return unauthorized }
        let readsOrders = caller == .reader || caller == .writer
        let notFound: (Int, String)
        if row.path.hasPrefix("/config/") {
            notFound = (404, errorBody(40408, "Subject '\(orders)' does not have subject-level compatibility configured"))
        } else if row.path.hasPrefix("/mode/") {
            notFound = (404, errorBody(40409, "Subject '\(orders)' does not have subject-level mode configured"))
        } else {
            notFound = (404, errorBody(40401, "Subject '\(orders)' not found."))
        }
        switch row.need {
        case .nothing, .anyUser:
            return nil
        case .readOrders:
            return readsOrders ? nil : notFound
        case .readOrdersSchema:
            let message = row.path.contains("guids") ? "Schema not found" : "Schema \(ordersID) not found"
            return readsOrders ? nil : (404, errorBody(40403, message))
        case .writeOrders:
            if caller == .writer { return nil }
            if caller == .reader { return (403, errorBody(40301, "User is denied operation Write on Subject: \(orders)")) }
            return (404, errorBody(40401, "Subject '\(orders)' not found."))
        case .readConfig:
            return caller == .configWriter ? nil : (403, errorBody(40301, "User is denied operation Read on Config:"))
        case .writeConfig:
            return caller == .configWriter ? nil : (403, errorBody(40301, "User is denied operation Write on Config:"))
        }
    }

    @Test func everyEndpointForEveryCaller() throws {
        let probe = try Self.seeded()
        let rows = Self.rows(ordersID: probe.ordersID, guid: probe.guid)
        try? FileManager.default.removeItem(at: probe.directory)
        for row in rows {
            let (api, admin, ordersID, guid, directory) = try Self.seeded()
            defer { try? FileManager.default.removeItem(at: directory) }
            #expect(ordersID == probe.ordersID && guid == probe.guid)
            for caller in Caller.allCases {
                let before = Self.state(admin)
                let response = Self.send(api, row.method, row.path, body: row.body, authorization: caller.authorization)
                let body = String(decoding: response.body, as: UTF8.self)
                if let refusal = Self.refusal(row, caller, ordersID: ordersID) {
                    #expect(response.status == refusal.status, "\(row) as \(caller): \(response.status) \(body)")
                    #expect(body == refusal.body, "\(row) as \(caller)")
                    #expect(Self.state(admin) == before, "\(row) as \(caller) changed the registry although refused")
                    let challenge = response.extraHeaders.first { $0.name == "WWW-Authenticate" }?.value
                    #expect((challenge == #"Basic realm="schema-registry""#) == (refusal.status == 401), "\(row) as \(caller)")
                } else {
                    #expect((200..<300).contains(response.status), "\(row) as \(caller) was refused: \(response.status) \(body)")
                }
            }
        }
    }

    /// Lists show only what the caller may read; a caller who may read none of an id's subjects is told the id
    /// does not exist.
    @Test func listsAreFiltered() throws {
        let (api, _, ordersID, _, directory) = try Self.seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        func list(_ path: String, _ caller: Caller) -> String {
            String(decoding: Self.send(api, "GET", path, authorization: caller.authorization).body, as: UTF8.self)
        }
        #expect(list("/subjects", .reader) == #"["orders-value"]"#)
        #expect(list("/subjects", .otherReader) == #"["payments-value"]"#)
        #expect(list("/subjects", .configWriter) == "[]")
        #expect(list("/subjects?offset=1", .reader) == "[]")
        #expect(list("/schemas", .otherReader).contains("payments-value"))
        #expect(!list("/schemas", .otherReader).contains(Self.orders))
        #expect(list("/schemas/ids/\(ordersID)/subjects", .writer) == #"["orders-value"]"#)
        // The same content under a subject the reader may not read is not shown to them.
        let both = #"{"schema":\#(JSONValue.string(Self.schema).compactText)}"#
        let alsoPayments = Self.send(api, "POST", "/subjects/payments-copy/versions", body: both, authorization: Self.Caller.writer.authorization)
        #expect(alsoPayments.status == 404, "the writer of orders-* registered under payments-copy")
    }

    /// What other subjects hold can leak through a request's references, `?subject=` on a by-id read, and
    /// `referencedby`: each answers for a subject the caller may not read exactly as for one that does not exist.
    @Test func referencesAndByIDExtrasDoNotRevealUnreadableSubjects() throws {
        let (api, admin, ordersID, _, directory) = try Self.seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        func body(_ response: HTTPResponse) -> String { String(decoding: response.body, as: UTF8.self) }
        func referring(to subject: String) -> String {
            let schema = #"{"type":"record","name":"Wrapper","fields":[{"name":"inner","type":"Payment"}]}"#
            return #"{"schema":\#(JSONValue.string(schema).compactText),"references":[{"name":"Payment","subject":"\#(subject)","version":1}]}"#
        }
        // payments-value exists; nope-value does not: a reader of orders-* cannot tell them apart.
        for (method, path, caller) in [("POST", "/subjects/\(Self.orders)", Caller.reader), ("POST", "/subjects/orders-wrapper/versions", .writer),
                                       ("POST", "/compatibility/subjects/\(Self.orders)/versions/latest", .writer)] {
            let before = Self.state(admin)
            let hidden = Self.send(api, method, path, body: referring(to: "payments-value"), authorization: caller.authorization)
            let missing = Self.send(api, method, path, body: referring(to: "nope-value"), authorization: caller.authorization)
            #expect(hidden.status == missing.status, "\(method) \(path): \(hidden.status) vs \(missing.status)")
            #expect(body(hidden) == body(missing).replacingOccurrences(of: "nope-value", with: "payments-value"), "\(method) \(path): \(body(hidden))")
            #expect(Self.state(admin) == before)
        }
        // The same content under payments-copy too: ?subject= names it only to who may read it.
        let copy = #"{"schema":\#(JSONValue.string(Self.schema).compactText)}"#
        #expect(Self.send(admin, "POST", "/subjects/payments-copy/versions", body: copy).status == 200)
        #expect(!body(Self.send(api, "GET", "/schemas/ids/\(ordersID)?subject=payments-copy", authorization: Caller.reader.authorization)).contains("payments"))
        #expect(body(Self.send(api, "GET", "/schemas/ids/\(ordersID)?subject=orders-value", authorization: Caller.reader.authorization)).contains(#""subject":"orders-value""#))
        #expect(body(Self.send(api, "GET", "/schemas/ids/\(ordersID)?subject=payments-copy", authorization: Caller.otherReader.authorization)).contains(#""subject":"payments-copy""#))
        // A payments-* schema that refers to orders-value version 1: its id is listed only to who may read it.
        let wrapper = #"{"type":"record","name":"Wrapper","fields":[{"name":"order","type":"Order"}]}"#
        let referrer = #"{"schema":\#(JSONValue.string(wrapper).compactText),"references":[{"name":"Order","subject":"orders-value","version":1}]}"#
        #expect(Self.send(admin, "POST", "/subjects/payments-wrapper/versions", body: referrer).status == 200)
        let referencedBy = "/subjects/\(Self.orders)/versions/1/referencedby"
        #expect(body(Self.send(admin, "GET", referencedBy)) != "[]")
        #expect(body(Self.send(api, "GET", referencedBy, authorization: Caller.reader.authorization)) == "[]")
    }

    @Test func hostileAuthorizationHeadersAreUnauthorized() throws {
        let (api, _, _, _, directory) = try Self.seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        let hostile = [
            "Basic " + String(repeating: "A", count: 100_000),  // oversized
            "Basic !!!not-base64!!!",
            "Basic " + Base64.encode(Array("readersecret-reader".utf8)),  // no colon
            "Basic " + Base64.encode([0xFF, 0xFE, 0x3A, 0x61]),  // user not UTF-8
            "Bearer abc",
            "Basic",
            "",
            "basic " + Base64.encode(Array("reader:secret-reader".utf8)) + "=",
        ]
        for header in hostile {
            let response = Self.send(api, "GET", "/subjects", authorization: header)
            #expect(response.status == 401, "\(header.prefix(40))")
        }
        // The scheme is case-insensitive, as RFC 7235 says.
        #expect(Self.send(api, "GET", "/subjects", authorization: "basic " + Base64.encode(Array("reader:secret-reader".utf8))).status == 200)
    }

    /// The remembered-credential key: the HMAC from a context keyed once equals RFC 4231's test case 2 and
    /// nettle's one-shot HMAC, message after message (the copied context is not worn by use).
    @Test func keyedHMACIsTheHMAC() {
        let template = PasswordHash.keyedHMACSHA256(key: Array("Jefe".utf8))
        let message = "what do ya want for nothing?"
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        for _ in 0..<3 {
            let digest = PasswordHash.hmacSHA256(keyed: template, message.utf8)
            #expect(digest.map { String(format: "%02x", $0) }.joined() == expected)
            #expect(digest == PasswordHash.hmacSHA256(key: Array("Jefe".utf8), Array(message.utf8)))
        }
    }

    @Test func replacedRulesForgetRememberedCredentials() throws {
        let authenticator = Authenticator(rules: try AccessRules(parsing: Self.authFile()))
        let header = Self.Caller.reader.authorization
        #expect(authenticator.authenticate(authorization: header)?.name == "reader")
        #expect(authenticator.authenticate(authorization: header)?.name == "reader")  // remembered
        authenticator.replace(with: try AccessRules(parsing: Array(#"{"users":[],"permissions":[]}"#.utf8)))
        #expect(authenticator.authenticate(authorization: header) == nil)
    }

    @Test func malformedAuthFilesAreRefusedWithTheirReason() {
        let cases: [(String, String)] = [
            ("[]", "JSON object"),
            (#"{"users":{}}"#, "'users' must be an array"),
            (#"{"users":[{"username":"a","algorithm":"md5","salt":"s","password_hash":"AA=="}]}"#, "md5"),
            (#"{"users":[{"username":"a","algorithm":"sha1","salt":"s","password_hash":"***"}]}"#, "base64"),
            (#"{"users":[],"permissions":[{"username":"ghost","operation":"Read","resource":".*"}]}"#, "ghost"),
            (#"{"users":[{"username":"a","algorithm":"sha1","salt":"s","password_hash":"AA=="}],"permissions":[{"username":"a","operation":"Delete","resource":".*"}]}"#, "Read or Write"),
            (#"{"users":[{"username":"a","algorithm":"sha1","salt":"s","password_hash":"AA=="}],"permissions":[{"username":"a","operation":"Read","resource":"(unclosed"}]}"#, "regular expression"),
            ("{", "not JSON"),
        ]
        for (text, reason) in cases {
            do {
                _ = try AccessRules(parsing: Array(text.utf8))
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.contains(reason), "\(text): \(error.description)")
            }
        }
    }
}
