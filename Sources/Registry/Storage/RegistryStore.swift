/// Where new content gets its id from, as a rule sees it.
enum IDSource {
    /// Memory's highest id + 1: memory is the only writer (SQLite).
    case afterMaximum
    /// An id the store has reserved for this decision after a first run with `.onRequest` asked for one:
    /// that run passed every check before the id (compatibility included) on the same, locked state, so
    /// the rule need not repeat them.
    case reserved(Int)
    /// None reserved yet: a rule that needs one throws `RegistryError.newIdentifierNeeded`, and the
    /// store reserves one and runs the rule again.
    case onRequest
}

/// One write, as the domain hands it to a store: the scopes it decides on and the rule.
///
/// The rule reads memory and returns its answer and the changes to make; it changes nothing itself.
/// Before it runs, the store makes sure memory holds the committed state of every scope named here
/// (SQLite: memory is the committed state; PostgreSQL: those scopes are locked in the database and
/// read again). After the changes are durable, memory applies them.
struct Decision<Value> {
    /// The subject the rule reads and changes; nil for the registry's own scope (global config and mode).
    var subject: String?
    /// Subjects the rule reads but does not change (a registration's references): held shared, so that
    /// what they point at cannot go meanwhile.
    var readSubjects: [String] = []
    /// For a registration: the content identity the rule will deduplicate by, computed on fresh memory.
    /// Its other holders are read too, and concurrent registrations of the same content wait for each other.
    var identity: ((inout SchemaRegistry.State) -> String)?
    /// An id requested explicitly (IMPORT): its holders are read too.
    var explicitID: Int?
    /// Whether the answer may wait for a group commit with others (registrations), rather than commit alone.
    var groupCommit = false
    /// Whether the rule needs to know if any subject anywhere has a live version (global IMPORT mode).
    var readsAllSubjects = false
    /// Whether the rule looks at who references the subject (deletes; a registration superseding a
    /// soft-deleted version).
    var readsReferrers = false
    /// The rule.
    var rule: (inout SchemaRegistry.State, IDSource) throws(RegistryError) -> (Value, [RegistryChange])
    /// Runs once the changes are in memory (to keep a parsed schema, say).
    var afterApply: ((inout SchemaRegistry.State, Value) -> Void)?

    init(
        subject: String?, readSubjects: [String] = [], identity: ((inout SchemaRegistry.State) -> String)? = nil, explicitID: Int? = nil,
        groupCommit: Bool = false, readsAllSubjects: Bool = false, readsReferrers: Bool = false,
        rule: @escaping (inout SchemaRegistry.State, IDSource) throws(RegistryError) -> (Value, [RegistryChange]),
        afterApply: ((inout SchemaRegistry.State, Value) -> Void)? = nil
    ) {
        self.subject = subject
        self.readSubjects = readSubjects
        self.identity = identity
        self.explicitID = explicitID
        self.groupCommit = groupCommit
        self.readsAllSubjects = readsAllSubjects
        self.readsReferrers = readsReferrers
        self.rule = rule
        self.afterApply = afterApply
    }
}

/// The seam between the registry's rules and its storage: SQLite (one process, memory is the
/// committed state, group commit) and PostgreSQL (any number of processes on one database) are the
/// two implementations. The rules exist once, in the domain; a store decides only how a decision is
/// made atomic and durable, and how memory learns what other writers did.
protocol RegistryStore: AnyObject, Sendable {
    /// A random id made when the database was created (`GET /v1/metadata/id`).
    var clusterID: String { get }
    /// Everything stored, to fill memory at start.
    func loadSnapshot() throws(RegistryError) -> RegistrySnapshot
    /// Runs one decision atomically against the committed state, makes its changes durable and
    /// applies them to `registry`'s memory; returns the rule's answer once durable.
    func perform<Value>(_ decision: Decision<Value>, on registry: SchemaRegistry) throws(RegistryError) -> Value
    /// Schema `id` is not in memory: brings it in if another writer has stored it (PostgreSQL), so an
    /// id any node has answered is never a 404. Returns whether memory changed.
    func fetchMissing(id: Int, into registry: SchemaRegistry) throws(RegistryError) -> Bool
    /// Brings the committed state of `subjects` into memory (PostgreSQL: another node may have changed
    /// them; nothing for SQLite, whose memory is the committed state).
    func refresh(subjects: [String], into registry: SchemaRegistry) throws(RegistryError)
    /// Starts following changes made by other writers (nothing for SQLite).
    func startFollowing(_ registry: SchemaRegistry)
    /// Whether the database answers now (`/health/ready`).
    var isReachable: Bool { get }
    /// A line for `/metrics` and logs: what the store is.
    var kind: String { get }
    /// What the store records of its own work (commits, probes), for `/metrics`.
    var statistics: StorageStatistics { get }
    /// Stops following; the registry is going away.
    func close()
}
