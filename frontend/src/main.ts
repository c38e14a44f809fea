import { createApp } from 'vue'

import App from '@/App.vue'
import { useTheme } from '@/composables/useTheme'
import { makeRouter } from '@/router'
import '@/styles/main.css'

useTheme() // apply the remembered theme before the first paint of the app
createApp(App).use(makeRouter()).mount('#app')
