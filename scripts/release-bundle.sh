#!/usr/bin/env bash
# Builds the Central Portal upload bundle of the current version, publishing nothing.
#
# Runs the whole build with the release profile (tests, javadoc, SBOMs, a GPG signature for every
# file) and deploys it into a directory in the Maven repository layout, where Maven writes the
# .md5 and .sha1 checksum of every file; then zips that directory, without the maven-metadata.xml
# files the Portal does not want. The result is target/central-bundle.zip, ready to upload
# (docs/releasing.md). Installs nothing into the local Maven repository.
#
# Extra arguments go to Maven, e.g. -Dgpg.keyname=<key id> (default: gpg's default key) or
# -DskipTests. The key's passphrase, if it has one, is read from MAVEN_GPG_PASSPHRASE.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
staging="$root/target/central-staging"
bundle="$root/target/central-bundle.zip"

# clean runs first, on the root module, so nothing of an earlier run survives in target/.
mvn -B -Prelease clean deploy \
  -Dmaven.install.skip=true \
  -DaltDeploymentRepository="central-bundle::file://$staging" \
  "$@"

find "$staging" -name 'maven-metadata.xml*' -delete
rm -f "$bundle"
(cd "$staging" && zip -q -r -X "$bundle" .)
echo "release-bundle: $bundle ($(unzip -Z1 "$bundle" | grep -vc '/$') files)"
