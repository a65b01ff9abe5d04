# The browser side of docker_test.sh: device-browser.mjs (Playwright driving
# chromium through the AppView's pages and the reference PDS's OAuth UI).
approve_in_browser() {
  "$ATCR_NODE" "$REPO_ROOT/tests/e2e/device-browser.mjs" approve "$1" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$DEVICE_NAME"
}
revoke_in_browser() {
  "$ATCR_NODE" "$REPO_ROOT/tests/e2e/device-browser.mjs" revoke "$1" "$DEMO_HANDLE" "$DEMO_PASSWORD"
}
