// Whether the console can vouch for a bundle version, by the very check every agent and replica runs before
// loading it (verifyManifest): the signature matches the manifest's content, the key is among the publishers the
// console was told to trust, and the version is the one the content derives. The console only reports: the agents
// and replicas refuse on their own.
import { isBundleStoreError, type ManifestWithBytes, verifyManifest } from '@cleave/node-runtime';
import type { TrustedPublisher } from '@cleave/proto';

/** What the console found when it checked a version, as the page shows it. */
export interface VersionIntegrity {
  /**
   * `verified`: signed by a trusted publisher, content intact. `untrusted`: a valid signature by a key the console
   * does not list (agents that list it load the bundle). `unsigned`, `bad_signature`, `content_mismatch`: every
   * agent and replica refuses it.
   */
  readonly status: 'verified' | 'untrusted' | 'unsigned' | 'bad_signature' | 'content_mismatch';
  /** The signing key, when there is a signature. */
  readonly publicKey: string | null;
  /** The trusted publisher's name, when it has one. */
  readonly name: string | null;
  /** One line for the page: who signed it, or why it will be refused. */
  readonly detail: string;
}

/** Checks `manifest` as a loader would, against `trusted`, and says what it found (never throws on a bad bundle). */
export function versionIntegrity(manifest: ManifestWithBytes, trusted: readonly TrustedPublisher[]): VersionIntegrity {
  const where = `${manifest.manifest.model.id}@${manifest.manifest.version}`;
  const publicKey = manifest.manifest.signature?.publicKey ?? null;
  try {
    // allowUnsigned: report unsigned and unknown signers instead of throwing; a bad signature or content still throws.
    const signer = verifyManifest(manifest, { trustedPublishers: trusted, allowUnsigned: true }, where);
    if (signer === undefined) {
      return { status: 'unsigned', publicKey: null, name: null, detail: 'unsigned: agents and replicas refuse it' };
    }
    const name = signer.name ?? null;
    return signer.trusted
      ? { status: 'verified', publicKey, name, detail: `signed by ${name ?? signer.publicKey} (trusted, verified)` }
      : {
          status: 'untrusted',
          publicKey,
          name,
          detail: `signed by ${signer.publicKey}, a key this console does not trust (valid signature)`,
        };
  } catch (error) {
    if (!isBundleStoreError(error)) throw error;
    const status = error.code === 'content_mismatch' ? 'content_mismatch' : 'bad_signature';
    return { status, publicKey, name: null, detail: `${error.message}: agents and replicas refuse it` };
  }
}
