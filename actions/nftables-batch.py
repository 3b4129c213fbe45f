# fail2ban action (Python, fail2ban 1.0.2): nftables bans in batches.
#
# fail2ban's stock nftables action runs one shell and one `nft` process per ban and per unban, about 10 ms each:
# 10 000 bans take 100 s to come back after a restart. This action keeps the stock layout (table inet f2b-table, chain
# f2b-chain in the input hook, sets addr-set-<jail> and addr6-set-<jail>, one rule per protocol and family) but hands
# the addresses banned or unbanned within WINDOW seconds to nftables in one transaction (`nft -f -`), CHUNK elements
# per statement. A transaction that fails is retried chunk by chunk, then address by address: one bad element never
# drops the others. An address nftables refuses to add is logged with the address and unbanned in fail2ban too, so
# that `fail2ban-client get JAIL banip` never lists a ban that is not in nftables.
#
# jail.local names it `banaction = nftables-batch.py`; jail.conf's `action_` passes port, protocol and chain, and the
# package's forwarded scope passes chain, chain_hook, chain_priority and blocktype, as to the stock action.

import subprocess
import threading

from fail2ban.server.action import ActionBase

WINDOW = 0.02  # seconds a batch stays open for further addresses after its first
CHUNK = 500  # elements per `add element` / `delete element` statement


class NftablesBatch(ActionBase):
    def __init__(self, jail, name, port='0:65535', protocol='tcp', chain='f2b-chain', chain_hook='input',
                 chain_priority='-1', chain_type='filter', blocktype='reject', table='f2b-table',
                 table_family='inet', type='multiport', nftables='nft', **_unused):
        super().__init__(jail, name)
        # jail.conf passes `chain = <known/chain>`, a tag only command actions resolve.
        self.chain = chain if chain and not chain.startswith('<') else 'f2b-chain'
        self.table = f'{table_family} {table}'
        self.hook = f'type {chain_type} hook {chain_hook} priority {chain_priority};'
        self.sets = {4: f'addr-set-{jail.name}', 6: f'addr6-set-{jail.name}'}
        match = ('meta l4proto {{ {protocol} }}' if type == 'allports' else '{protocol} dport {{ {port} }}')
        self.rules = [f'{match.format(protocol=proto.strip(), port=port.replace(":", "-"))} {saddr} saddr @{self.sets[family]} {blocktype}'
                      for family, saddr in ((4, 'ip'), (6, 'ip6'))
                      for proto in (protocol.split(',') if type != 'allports' else [protocol])]
        self.nft = nftables
        self.pending = []  # (op, family, address) in the order fail2ban gave them
        self.cond = threading.Condition()
        self.nft_lock = threading.Lock()  # one transaction at a time: a flush never races a batch
        self.stopping = False
        self.worker = None

    # ------------------------------------------------------------------ nft
    def run_nft(self, script):
        """(ok, error text) of one `nft -f -` transaction."""
        result = subprocess.run([self.nft, '-f', '-'], input=script, capture_output=True, text=True)
        return result.returncode == 0, result.stderr.strip()

    def handles(self):
        """Handles of the rules in the chain that match this jail's sets (none when the chain does not exist)."""
        result = subprocess.run([self.nft, '-a', 'list', 'chain', *self.table.split(), self.chain],
                                capture_output=True, text=True)
        sets = tuple(f'@{name} ' for name in self.sets.values())
        return [line.rsplit('# handle ', 1)[1].strip() for line in result.stdout.splitlines()
                if '# handle ' in line and any(name in line for name in sets)]

    # ------------------------------------------------------------------ fail2ban's interface
    def start(self):
        # Idempotent: after a SIGKILL the table, the chain, the sets and the rules are still there; the rules of this
        # jail's sets are replaced in the same transaction that makes sure the rest exists.
        script = [f'add table {self.table}', f'add chain {self.table} {self.chain} {{ {self.hook} }}']
        script += [f'add set {self.table} {name} {{ type {"ipv4_addr" if family == 4 else "ipv6_addr"}; }}'
                   for family, name in self.sets.items()]
        script += [f'delete rule {self.table} {self.chain} handle {handle}' for handle in self.handles()]
        script += [f'add rule {self.table} {self.chain} {rule}' for rule in self.rules]
        with self.nft_lock:
            ok, error = self.run_nft('\n'.join(script) + '\n')
        if not ok:
            raise RuntimeError(f'nftables start failed: {error}')
        self.stopping = False
        self.worker = threading.Thread(target=self.work, name=f'f2b/nft-batch.{self._jail.name}', daemon=True)
        self.worker.start()

    def ban(self, aInfo):
        self.enqueue('add', aInfo['ip'])

    def reban(self, aInfo):
        self.enqueue('add', aInfo['ip'])

    def unban(self, aInfo):
        self.enqueue('delete', aInfo['ip'])

    def flush(self):
        """`unban --all` and a stop: empties the sets at once; bans still waiting for their batch are dropped."""
        with self.nft_lock:
            with self.cond:
                self.pending.clear()
            ok, error = self.run_nft(''.join(f'flush set {self.table} {name}\n' for name in self.sets.values()))
        if not ok:
            self._logSys.error('nftables flush failed: %s', error)
        return ok

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify()
        if self.worker:
            self.worker.join(10)
        with self.nft_lock:
            script = [f'delete rule {self.table} {self.chain} handle {handle}' for handle in self.handles()]
            script += [f'delete set {self.table} {name}' for name in self.sets.values()]
            ok, error = self.run_nft('\n'.join(script) + '\n')
            if not ok:
                self._logSys.error('nftables stop failed: %s', error)
            listing = subprocess.run([self.nft, 'list', 'table', *self.table.split()], capture_output=True, text=True)
            if listing.returncode == 0 and not any(line.strip().startswith('set ') for line in listing.stdout.splitlines()):
                self.run_nft(f'delete table {self.table}\n')

    # ------------------------------------------------------------------ batches
    def enqueue(self, op, ip):
        address = str(ip)
        # fail2ban hands over whatever `set JAIL banip` was given (a CIDR too): nftables is the judge of what it takes.
        family = 6 if ':' in address else 4
        with self.cond:
            self.pending.append((op, family, address))
            self.cond.notify()

    def work(self):
        while True:
            with self.cond:
                while not self.pending and not self.stopping:
                    self.cond.wait()
                if self.stopping and not self.pending:
                    return
            # The batch stays open for WINDOW: the addresses fail2ban hands over meanwhile go with it.
            with self.cond:
                self.cond.wait_for(lambda: self.stopping, timeout=WINDOW)
            with self.nft_lock:
                with self.cond:
                    batch, self.pending = self.pending, []
                if batch:
                    self.apply(batch)

    def apply(self, batch):
        """One transaction for the batch; on failure each statement alone, then each address alone."""
        statements = self.statements(batch)
        ok, _ = self.run_nft(''.join(text for text, _ in statements))
        if ok:
            return
        for text, elements in statements:
            ok, _ = self.run_nft(text)
            if ok:
                continue
            for op, family, address in elements:
                ok, error = self.run_nft(self.statement(op, family, [address]))
                if ok or op == 'delete':  # an address already gone needs no unban
                    continue
                self._logSys.error('nftables refused to add %s to %s: %s; unbanning it in fail2ban too',
                                   address, self.sets[family], error)
                threading.Thread(target=self.forget, args=(address,), daemon=True).start()

    def forget(self, address):
        try:
            self._jail.actions.removeBannedIP(address)
        except Exception as error:  # the ban may have ended meanwhile
            self._logSys.debug('could not unban %s: %s', address, error)

    def statement(self, op, family, addresses):
        return f'{op} element {self.table} {self.sets[family]} {{ {", ".join(addresses)} }}\n'

    def statements(self, batch):
        """Runs of the same operation and family, in order, CHUNK addresses per statement: (text, elements)."""
        runs = []
        for op, family, address in batch:
            if runs and runs[-1][0] == (op, family) and len(runs[-1][1]) < CHUNK:
                runs[-1][1].append((op, family, address))
            else:
                runs.append(((op, family), [(op, family, address)]))
        return [(self.statement(op, family, [address for _, _, address in elements]), elements)
                for (op, family), elements in runs]


Action = NftablesBatch
